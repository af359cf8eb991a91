"""Source codecs: traditional (H.265, JPEG, AAC, ...), text, the semantic text link, M3E keyframes."""

# the M3E keyframe codec's variants (m3e.codecs.m3e_keyframe; the stream's registry of schemes
# is m3e.schemes)
M3E_SCHEMES = ("m3e", "m3e-no-diff", "m3e-text-only")

# (modulation, LDPC rate) of the small layers every M3E keyframe depends on: its audio
# difference T′ (sender and evaluation) and its side information (evaluation; the stream sends
# it inside V′'s burst). Tiny payloads fit in one fade, so rate 1/2 lost too many of them at
# 0 dB and below (docs/m3e.md, "Protection"); 1/3 costs ~3 % more symbols at 8 dB.
SMALL_LAYER_CODING = ("qpsk", 1 / 3)
