"""The CPU's name in runtime_info(), read from /proc/cpuinfo."""
import scipix
from scipix.optimize.cpu import cpu_name

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC

processor\t: 1
model name\t: something else
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""


def test_x86_name_with_family_and_model_of_the_first_cpu(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(X86)
    assert cpu_name(str(path)) == "AMD EPYC (family 25, model 17)"


def test_aarch64_name_from_its_codes(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(ARM)
    assert cpu_name(str(path)) == "implementer 0x41, part 0xd0c"


def test_unreadable_cpuinfo_falls_back(tmp_path):
    assert isinstance(cpu_name(str(tmp_path / "missing")), str)


def test_runtime_info_names_the_cpu():
    assert scipix.runtime_info()["cpu"] == cpu_name()
