"""Shared by the API and the worker, apart from the wire protocol (see facegrid_protocol)."""
