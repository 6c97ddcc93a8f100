"""The bill's arithmetic (bench/cost.py), checked on items sized by hand with
DynamoDB's rules: attribute names plus values, numbers at one byte per two
significant digits plus one, 3 bytes per list or map and 1 per element."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import cost  # noqa: E402


def test_a_journal_key_is_sized_as_its_names_and_utf8_values():
    item = {"pk": {"S": "3141-5926-5359#bench"}, "sk": {"S": "20261129T120000000Z-0123456789abcdef"}}
    assert cost.item_size(item) == (2 + 20) + (2 + 36)


def test_strings_count_utf8_bytes_not_characters():
    assert cost.item_size({"doc": {"S": "héllo"}}) == 3 + 6


@pytest.mark.parametrize(
    ("number", "size"),
    [
        ("1772366400", 5),  # trailing zeroes trimmed: 17723664, 8 digits -> 4 bytes + 1
        ("200", 2),  # 2 -> 1 + 1
        ("-0.0012345", 4),  # 12345, 5 digits -> 3 + 1
        ("123", 3),  # 3 digits -> 2 + 1
        ("0", 1),
    ],
)
def test_numbers_take_a_byte_per_two_significant_digits_plus_one(number, size):
    assert cost.number_size(number) == size


def test_a_ttl_and_a_status_are_sized_with_their_names():
    assert cost.item_size({"expires_at": {"N": "1772366400"}, "status": {"N": "200"}}) == (10 + 5) + (6 + 2)


def test_lists_and_maps_add_three_bytes_and_one_per_element():
    assert cost.item_size({"m": {"M": {"a": {"S": "xy"}, "b": {"BOOL": True}}}}) == 1 + 3 + (1 + 1 + 2) + (1 + 1 + 1)
    assert cost.item_size({"l": {"L": [{"S": "abc"}, {"NULL": True}]}}) == 1 + 3 + (1 + 3) + (1 + 1)
    assert cost.item_size({"e": {"L": []}}) == 1 + 3


def test_binary_and_sets():
    assert cost.item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3
    assert cost.item_size({"ss": {"SS": ["a", "bc"]}, "ns": {"NS": ["10", "123"]}}) == (2 + 3) + (2 + 2 + 3)


@pytest.mark.parametrize(("size", "units"), [(1, 1), (1024, 1), (1025, 2), (1323, 2), (2048, 2), (0, 1)])
def test_a_write_takes_one_unit_per_started_kilobyte(size, units):
    assert cost.write_units(size) == units


def test_a_read_takes_one_unit_per_started_4kb_and_half_when_eventually_consistent():
    assert cost.read_units(6000, consistent=True) == 2.0
    assert cost.read_units(6000, consistent=False) == 1.0
    assert cost.read_units(4096, consistent=False) == 0.5
    assert cost.read_units(142, consistent=True) == 1.0


def test_lambda_bills_each_invocation_rounded_up_to_the_millisecond():
    assert cost.billed_ms([10.2, 10.9, 0.3]) == pytest.approx((11 + 11 + 1) / 3)
    # 11 ms at 512 MB on arm64: 0.011 s x 0.5 GB x $0.0000133334, a million times
    assert cost.lambda_compute(11, 512) == pytest.approx(0.011 * 0.5 * 0.0000133334 * 1e6)


def test_litellm_on_fargate_pays_vcpu_and_memory_hours_at_its_rate():
    bill = cost.litellm_bill({"cpu_ms_per_request": 10.0, "rps": 95.0, "peak_rss_mb": 300.0})
    assert bill["rps_per_vcpu"] == 100.0
    # a million requests at 100/s per vCPU: 10,000 vCPU-seconds, with 2 GB per vCPU
    assert bill["total_per_million_at_full_use"] == pytest.approx(10_000 / 3600 * (0.03238 + 2 * 0.00356), rel=1e-3)
    assert bill["total_per_million_at_half_use"] == pytest.approx(2 * bill["total_per_million_at_full_use"], rel=1e-3)


def test_the_memory_comes_from_the_template():
    template = {"Globals": {"Function": {"MemorySize": 1024}},
                "Resources": {"A": {"Type": "AWS::Serverless::Function", "Properties": {"MemorySize": 512}},
                              "B": {"Type": "AWS::Serverless::Function", "Properties": {}},
                              "T": {"Type": "AWS::DynamoDB::Table", "Properties": {}}}}
    assert cost.function_memory(template) == {"A": 512, "B": 1024}
    real = cost.function_memory()
    assert real["PromptFunction"] > 0 and real["PassthroughFunction"] > 0


def test_prices_say_where_and_when_they_were_recorded():
    assert cost.PRICES["region"] == "us-east-1"
    assert cost.PRICES["recorded_on"] and "not fetched live" in cost.PRICES["note"]


def test_usage_write_units_per_record_in_either_shape_of_the_figures():
    from bench import cost

    before = {"records_in_batch": 100, "counters_per_batch": 200, "wru_per_counter": 2}  # a transaction of 2 items per record
    after = {"records_in_batch": 100, "wru_per_batch": 22, "wru_per_record": 0.22}
    assert cost.usage_wru_per_record(before) == 4
    assert cost.usage_wru_per_record(after) == 0.22
    assert cost.usage_wru_per_record({"batches": 0}) is None


def test_before_and_after_pair_each_scenario_with_the_baseline():
    from bench import cost

    after = {"scenarios": {"prompt_plain": {"dynamodb_wru_per_request": 3.0, "usage_wru_per_request": 0.22, "total_per_million": 6.49,
                                            "total_per_million_with_provider_latency": 13.22}}}
    baseline = {"scenarios": {"prompt_plain": {"dynamodb_wru_per_request": 5.0, "total_per_million": 10.03,
                                               "total_per_million_with_provider_latency": 16.77}},
                "_warm_usage": {"records_in_batch": 100, "counters_per_batch": 200, "wru_per_counter": 2}}
    [(name, pair)] = cost.before_after(after, baseline).items()
    assert name == "prompt_plain"
    assert pair.pop("item_bytes") == {"before": {"journal": None, "index": None, "session": None, "session_items": None},
                                      "after": {"journal": None, "index": None, "session": None, "session_items": None}}
    assert pair == {"request_wru": {"before": 5.0, "after": 3.0}, "usage_wru": {"before": 4.0, "after": 0.22},
                    "per_million": {"before": 10.03, "after": 6.49}, "per_million_with_provider_latency": {"before": 16.77, "after": 13.22}}
    assert cost.before_after(after, None)["prompt_plain"]["per_million"] == {"before": None, "after": 6.49}


def test_the_baseline_run_is_in_the_repository():
    from bench import cost

    baseline = cost.load_baseline()
    assert baseline["scenarios"]["prompt_plain"]["total_per_million"] > 0
    assert cost.usage_wru_per_record(baseline["_warm_usage"]) == 4


def test_item_sizes_before_and_after_come_from_what_each_run_wrote():
    from bench import cost

    wrote = {"journal": {"mean_item_bytes": 878.3, "index_mean_item_bytes": 570.2}, "sessions": {"mean_item_bytes": 251.0, "items_per_request": 1.0}}
    after = {"scenarios": {"prompt_plain": {"dynamodb_wru_per_request": 3.0, "total_per_million": 6.49, "total_per_million_with_provider_latency": 13.2}}}
    baseline = cost.load_baseline()
    pair = cost.before_after(after, baseline, {"prompt_plain": wrote})["prompt_plain"]["item_bytes"]
    assert pair["after"] == {"journal": 878.3, "index": 570.2, "session": 251.0, "session_items": 1.0}
    assert pair["before"]["journal"] > 1900 and pair["before"]["session_items"] == 2.0
