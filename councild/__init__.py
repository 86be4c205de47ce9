"""councild: the control daemon for the sound and picture of a hybrid council session."""

__version__ = "0.1.0"
