"""Lets ``pytest exercises/NN_topic`` run the public checks on your notebook (one test per task)."""

pytest_plugins = ["autograder.pytest_plugin"]
