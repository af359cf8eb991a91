"""``bench.robust_control`` on real processes: nobody without the token steers the channel,
while the legitimate path still works."""

import pytest

from bench.robust_control import unauthenticated_control_attempts


@pytest.mark.slow
def test_no_unauthenticated_control_attempt_is_accepted() -> None:
    r = unauthenticated_control_attempts()
    assert r["attempts"] >= 13 and r["accepted"] == 0, [d for d in r["details"] if d["accepted"]]
    assert r["snr_db_after_hostile_attempts"] == 20.0 and r["legitimate_control_works"]
