"""The pure core: splits, features, the network and its training. No I/O, no tracking."""
