"""Jobs: the wiring of each command, written once, and the executors that run it per ticker."""
