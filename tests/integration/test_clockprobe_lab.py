"""The clock probe on lab nodes: they share this machine's clock, so it must read an offset of
about zero, sure to within a few milliseconds; under the node's faketime (read by ``date``:
libfaketime does not move bash's ``$EPOCHREALTIME``) it reads the fault."""

from __future__ import annotations

import pytest

from jepsy import inventory
from jepsy.control import SSHRemote
from jepsy.doctor import diagnose
from jepsy.nemeses.clock import ClockNemesis
from tests.integration.conftest import lab_running
from tests.integration.test_nemesis_partition import lab_test

pytestmark = pytest.mark.integration

LAB, SUBNET = "jclk", "10.237.1"


def test_doctor_and_the_clock_nemesis_read_lab_clocks_by_the_responder() -> None:
    with lab_running(LAB, SUBNET, nodes=2) as lab:
        nodes = inventory.from_file(lab.inventory_path)
        with SSHRemote(nodes) as remote:
            reports = diagnose(remote, nodes)
        for r in reports:
            assert r.clock_method == "responder", r
            assert r.clock_offset_s is not None and r.clock_uncertainty_s is not None
            # One kernel clock: zero, within the bound the round trip gives (and bash's 1 µs).
            assert abs(r.clock_offset_s) <= r.clock_uncertainty_s + 1e-5, r
            assert r.clock_uncertainty_s < 0.02, r  # a few ms even on a loaded machine

        test = lab_test(lab)
        nem = ClockNemesis({})
        try:
            nem.setup(test)
            assert nem.modes == {"n1": "faketime", "n2": "faketime"}
            done = nem.invoke(test, {"f": "start-clock", "value": {
                "mode": "bump", "targets": ["n1"], "deltas": {"n1": 5.0}}})
            n1, n2 = done.value["n1"], done.value["n2"]
            assert all(nem.probes[n].lines is None and "libfaketime" in nem.probes[n].why_date
                       for n in ("n1", "n2"))
            assert abs(n1["offset"] - 5.0) <= n1["uncertainty"] + 1e-3 and n1["uncertainty"] < 0.02
            assert abs(n2["offset"]) <= n2["uncertainty"] + 1e-3
            assert done.took_effect == ["n1"]
        finally:
            nem.heal(test)
            nem.teardown(test)
            test.remote.close()
