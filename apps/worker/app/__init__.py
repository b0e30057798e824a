"""FaceGrid worker: dials out to the API, runs jobs and cameras, listens on nothing."""

__version__ = "0.1.0"
