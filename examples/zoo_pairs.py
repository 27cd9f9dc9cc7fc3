"""Third-party Gluon models and their PyTorch ports, as builders the command line can call.

    python -m parity check --gluon examples.zoo_pairs:gluoncv_resnet18 \
        --torch examples.zoo_pairs:torchvision_resnet18 --input 3,64,64 --gluon-batchnorm

Each builder takes no arguments (10 classes, no pretrained weights).  What each pair showed is
tabled in docs/PORTS.md.
"""
from modern_cnns.gluon_impl.gluoncv_compat import import_gluoncv
from modern_cnns.torch_impl.torchvision_compat import import_torchvision, torchvision_models

CLASSES = 10


# --- gluoncv 0.10.5 model zoo <-> torchvision 0.28 -----------------------------------------
def gluoncv_resnet18():
    return import_gluoncv().model_zoo.get_model("resnet18_v1b", classes=CLASSES)


def torchvision_resnet18():
    return torchvision_models().resnet18(num_classes=CLASSES)


def gluoncv_vgg11_bn():
    return import_gluoncv().model_zoo.get_model("vgg11_bn", classes=CLASSES)


def torchvision_vgg11_bn():
    return torchvision_models().vgg11_bn(num_classes=CLASSES)


def gluoncv_alexnet():
    return import_gluoncv().model_zoo.get_model("alexnet", classes=CLASSES)


def torchvision_alexnet():
    return torchvision_models().alexnet(num_classes=CLASSES)


def gluoncv_mobilenetv2():
    return import_gluoncv().model_zoo.get_model("mobilenetv2_1.0", classes=CLASSES)


def torchvision_mobilenetv2():
    return torchvision_models().mobilenet_v2(num_classes=CLASSES)


def gluoncv_densenet121():
    return import_gluoncv().model_zoo.get_model("densenet121", classes=CLASSES)


def torchvision_densenet121():
    return torchvision_models().densenet121(num_classes=CLASSES)


def gluoncv_googlenet():
    return import_gluoncv().model_zoo.get_model("googlenet", classes=CLASSES)


def torchvision_googlenet():
    return torchvision_models().googlenet(num_classes=CLASSES, aux_logits=False, init_weights=False)


# --- gluoncv2 0.0.64 <-> pytorchcv 0.0.74 (the same author's mirrored zoos) ----------------
def gluoncv2_nin_cifar10():
    from gluoncv2.model_provider import get_model

    return get_model("nin_cifar10")


def pytorchcv_nin_cifar10():
    import_torchvision()  # pytorchcv imports torchvision: through the helper, beside a CPU torch
    from pytorchcv.model_provider import get_model

    return get_model("nin_cifar10")


def gluoncv2_resnet18():
    from gluoncv2.model_provider import get_model

    return get_model("resnet18", classes=CLASSES)


def pytorchcv_resnet18():
    import_torchvision()
    from pytorchcv.model_provider import get_model

    return get_model("resnet18", num_classes=CLASSES)
