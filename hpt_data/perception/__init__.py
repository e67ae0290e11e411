"""Perception shared by the frame stages: every person in a frame (:mod:`.people`, with the
detector's anchors and NMS in :mod:`.anchors`)."""
