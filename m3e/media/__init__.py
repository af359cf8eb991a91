"""Media sources (file, webcam, microphone, lavfi) and sinks (MP4, sound card)."""
