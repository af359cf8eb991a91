"""Source codecs: traditional (H.265, JPEG, AAC, ...) now; semantic ones in later issues."""
