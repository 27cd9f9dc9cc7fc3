"""Verify a PyTorch port of a Gluon model in 20 lines: gluoncv's ResNet-18 against torchvision's.

    .venv/bin/python examples/verify_port.py
"""
from modern_cnns.gluon_impl.gluoncv_compat import import_gluoncv
from modern_cnns.parity import check_pair, use_gluon_batchnorm
from modern_cnns.torch_impl.torchvision_compat import torchvision_models

gluon_block = import_gluoncv().model_zoo.get_model("resnet18_v1b", classes=10)  # un-initialised: seeded Xavier
port = torchvision_models().resnet18(num_classes=10)

for label, module in (("stock torch BatchNorm", port), ("use_gluon_batchnorm", use_gluon_batchnorm(port))):
    print(f"== {label}")
    for result in check_pair(gluon_block, module, (3, 64, 64), input_sizes=[96]):
        print(f"{result.dtype}: {'PASS' if result.passed else 'FAIL'}, {len(result.rows)} checks")
        for row in [r for r in result.rows if not r.passed][:3]:
            print(f"   {row.check}: max rel {row.max_rel:.2e}")
        if result.first_divergence:
            print(f"   first divergence: {result.first_divergence}")
        for finding in result.diagnosis:
            print(f"   diagnosis: {finding}")
