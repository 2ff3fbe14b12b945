"""Measured quality and speed: `vecina eval nlu`, `vecina eval language`, `vecina bench`."""

from vecina.evaluation.data import Example, load_examples, split

__all__ = ["Example", "load_examples", "split"]
