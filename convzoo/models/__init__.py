"""Model families, one file each; importing this package registers every model."""

from convzoo.models import alexnet, lenet, resnet, vgg  # noqa: F401  (registration)
