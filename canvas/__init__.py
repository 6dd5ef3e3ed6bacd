"""Boundless, the application: the canvas store, jobs, painters, the server and the command line."""
