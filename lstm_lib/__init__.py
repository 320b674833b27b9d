"""lstm_lib: the library behind the interactive textbook on RNN and LSTM fundamentals.

One module per chapter of the book (see DESIGN.md); the chapters import from here and
define no model of their own.
"""

__version__ = "0.1.0"
