"""Models: linear classifiers, fully connected nets, convolutional nets."""
