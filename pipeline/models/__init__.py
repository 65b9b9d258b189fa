"""Every model family behind one small interface (``base.py``): the RNN, baselines, conformal."""
