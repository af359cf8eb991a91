"""Source codecs: traditional (H.265, JPEG, AAC, ...), text, the semantic text link, M3E keyframes."""

# M3E video schemes (m3e.codecs.m3e_keyframe), named here so processes can check a scheme
# without loading the models
M3E_SCHEMES = ("m3e", "m3e-no-diff", "m3e-text-only")
