"""Cameras: their configuration, which worker watches each, their live status and live view."""
