"""Connected workers: their sessions, the hub that tracks them, and the socket they speak on."""
