"""Regenerate the protobuf / gRPC code in m3e/wire from protos/ (``python -m m3e.wire.generate``).

The generated files are committed; tests/wire/test_stubs.py fails when they are stale.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
WIRE = Path(__file__).resolve().parent
GENERATED = ("link_pb2.py", "link_pb2.pyi", "link_pb2_grpc.py")


def generate(out_dir: Path) -> None:
    """Run protoc on protos/m3e/v1/link.proto into ``out_dir`` (flat, imports fixed)."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTOS}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            str(PROTOS / "m3e" / "v1" / "link.proto"),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
        for name in GENERATED:
            text = (Path(tmp) / "m3e" / "v1" / name).read_text()
            # generated code imports "m3e.v1.link_pb2"; ours lives in m3e.wire
            text = text.replace("from m3e.v1 import link_pb2", "from m3e.wire import link_pb2")
            (out_dir / name).write_text(text)


if __name__ == "__main__":
    generate(WIRE)
    print(f"wrote {', '.join(GENERATED)} to {WIRE}", file=sys.stderr)
