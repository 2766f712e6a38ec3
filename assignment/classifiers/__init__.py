"""Models: linear classifiers, fully connected nets, convolutional nets."""

from assignment.classifiers.linear import LinearClassifier, LinearSVM, Softmax

__all__ = ["LinearClassifier", "LinearSVM", "Softmax"]
