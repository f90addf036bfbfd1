"""Model families, one file each; importing this package registers every model."""

from convzoo.models import (  # noqa: F401  (registration)
    alexnet,
    densenet,
    efficientnet,
    googlenet,
    inception,
    inception_v4,
    lenet,
    mixnet,
    mnasnet,
    mobilenet_v1,
    mobilenet_v2,
    resnet,
    resnest,
    resnext,
    senet,
    shufflenet,
    shufflenetv2,
    sknet,
    vgg,
    xception,
)
