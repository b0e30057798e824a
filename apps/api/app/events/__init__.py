"""Events: one per appearance of a person (or an unknown face) on a camera."""
