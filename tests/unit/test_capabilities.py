"""What workers offer, what builds need, and the queue that joins them."""

from __future__ import annotations

from core.build import BuildRecord
from core.capabilities import (
    Capabilities,
    covers,
    daemon_platform,
    needs_from_text,
    needs_key,
    needs_text,
    queue_name_for,
    unmet,
    waiting_reason,
)
from core.events import RefType

AMD64 = Capabilities(platforms=("linux/amd64", "linux/386"))
BIG = Capabilities(platforms=("linux/amd64",), labels=("big-memory",))
ARM = Capabilities(platforms=("linux/arm64", "linux/arm"))


def test_a_build_without_needs_stays_on_the_build_queue():
    assert queue_name_for("autobuild", ()) == "autobuild"


def test_needs_name_one_queue_whatever_their_order():
    one = queue_name_for("autobuild", ("linux/arm64", "big-memory"))
    assert one == "autobuild:needs:big-memory,linux/arm64"
    assert one == queue_name_for("autobuild", ("big-memory", "linux/arm64"))
    assert needs_from_text(needs_text(("linux/arm64", "big-memory"))) == (
        "big-memory",
        "linux/arm64",
    )
    assert needs_from_text("") == ()
    assert needs_key("autobuild") == "autobuild:needs-sets:autobuild"


def test_the_daemons_architecture_is_named_as_oci_names_it():
    assert daemon_platform("linux", "x86_64") == "linux/amd64"
    assert daemon_platform("linux", "aarch64") == "linux/arm64"
    assert daemon_platform("linux", "s390x") == "linux/s390x"
    assert daemon_platform(None, "x86_64") == "linux/amd64"


def test_a_platform_without_variant_covers_its_variants_only():
    assert covers("linux/arm", "linux/arm/v7")
    assert not covers("linux/arm/v7", "linux/arm")
    assert not covers("linux/arm", "linux/arm64")
    assert not covers("big", "big-memory")
    assert unmet(("linux/amd64", "gpu"), ("linux/amd64", "gpu", "linux/arm64")) == ("linux/arm64",)


def test_a_worker_runs_a_build_only_with_every_need():
    assert BIG.can_run(("big-memory", "linux/amd64"))
    assert BIG.can_run(())
    assert not AMD64.can_run(("big-memory",))
    assert not BIG.can_run(("big-memory", "linux/arm64"))


def test_no_reason_when_a_live_worker_can_run_it():
    assert waiting_reason(("big-memory",), [AMD64, BIG]) is None
    assert waiting_reason((), [AMD64]) is None


def test_the_reason_names_what_is_missing_and_what_workers_offer():
    assert waiting_reason(("big-memory", "linux/arm64"), [Capabilities(("linux/amd64",))]) == (
        "No worker offers linux/arm64, big-memory; workers offer: linux/amd64."
    )
    assert waiting_reason(("big-memory", "linux/arm64"), [BIG, ARM]) == (
        "No one worker offers all of linux/arm64, big-memory; workers offer: "
        "linux/amd64, big-memory; linux/arm, linux/arm64."
    )
    assert waiting_reason(("gpu",), []) == "No worker is running; the build starts when one does."


def test_a_record_keeps_its_needs_through_json():
    record = BuildRecord(
        id="b1",
        provider="git",
        repository="a/b",
        source_type=RefType.BRANCH,
        source_name="main",
        commit="a" * 40,
        image="127.0.0.1:5000/a/b",
        docker_tags=("latest",),
        dockerfile="Dockerfile",
        context="/",
        needs=("big-memory", "linux/arm64"),
    )
    assert record.to_json()["needs"] == ["big-memory", "linux/arm64"]
    assert BuildRecord.loads(record.dumps()).needs == ("big-memory", "linux/arm64")
    assert "needs" not in BuildRecord.loads(record.dumps()).to_json()["build_args"]
