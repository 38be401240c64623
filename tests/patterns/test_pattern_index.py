"""The rule index against the reference matcher, and its add/remove/replace behaviour."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import oncue.patterns
from oncue.patterns import Leaf, RuleIndex, compile_pattern, flatten, matches
from oncue.patterns import index as index_module
from oncue.patterns.flatten import (
    NO_LEAF,
    NOT_PLAIN,
    Trace,
    collect,
    leaves_at,
    leaves_in,
    merge_traces,
    path_plan,
    path_trie,
    plain_leaf,
)
from oncue.patterns.values import value_key

# A small vocabulary so that generated patterns and events often meet.
KEYS = ["a", "b", "c.d"]
STRINGS = ["", "x", "xy", "Xy", "yx", "10.0.0.1", "a*b"]
NUMBERS = [-1, 0, 1, 1.5, 2, 1e10]
scalars = st.sampled_from([*STRINGS, *NUMBERS, True, False, None])

events: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=3)
    ),
    max_leaves=8,
)

#: Events are objects; most name the keys the patterns name.
top_events = st.dictionaries(st.sampled_from(KEYS), events, min_size=2, max_size=3)

operators = st.one_of(
    scalars,
    st.builds(lambda s: {"prefix": s}, st.sampled_from(STRINGS)),
    st.builds(lambda s: {"suffix": s}, st.sampled_from(STRINGS)),
    st.builds(lambda s: {"prefix": {"equals-ignore-case": s}}, st.sampled_from(STRINGS)),
    st.builds(lambda s: {"suffix": {"equals-ignore-case": s}}, st.sampled_from(STRINGS)),
    st.builds(lambda s: {"equals-ignore-case": s}, st.sampled_from(STRINGS)),
    st.builds(lambda s: {"wildcard": s}, st.sampled_from(["*", "x*", "*y", "x*y", "a\\*b"])),
    st.builds(lambda v: {"anything-but": v}, st.sampled_from(["x", 1, ["x", "xy"], [0, 2]])),
    st.builds(lambda s: {"anything-but": {"prefix": s}}, st.sampled_from(["x", "y"])),
    st.builds(lambda s: {"anything-but": {"suffix": s}}, st.sampled_from(["x", "y"])),
    st.builds(lambda s: {"anything-but": {"equals-ignore-case": s}}, st.sampled_from(["x", "XY"])),
    st.builds(lambda s: {"anything-but": {"wildcard": s}}, st.sampled_from(["x*", "*y"])),
    st.builds(lambda n: {"numeric": [">", n]}, st.sampled_from([-1, 0, 1])),
    st.builds(lambda n: {"numeric": [">=", n, "<", n + 1.5]}, st.sampled_from([-1, 0, 1])),
    st.builds(lambda n: {"numeric": ["=", n]}, st.sampled_from([0, 1, 1.5])),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.just({"cidr": "10.0.0.0/24"}),
)


def _patterns(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    field = st.lists(operators, min_size=1, max_size=3)
    value = field if depth == 0 else field | _patterns(depth - 1)
    body = st.dictionaries(st.sampled_from(KEYS), value, min_size=1, max_size=2)
    if depth == 0:
        return body
    alternatives = st.lists(_patterns(depth - 1), min_size=2, max_size=2)
    return body | st.builds(lambda b, alts: {**b, "$or": alts}, body, alternatives)


patterns = _patterns(2)


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=6), st.lists(top_events, min_size=1, max_size=4))
def test_index_agrees_with_reference(
    rule_patterns: list[dict[str, Any]], event_list: list[Any]
) -> None:
    _check_agreement(rule_patterns, event_list)


@settings(max_examples=200, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=6), st.lists(top_events, min_size=1, max_size=4))
def test_wide_states_agree_with_reference(
    rule_patterns: list[dict[str, Any]], event_list: list[Any]
) -> None:
    """The same property with every state treated as wide (one flattening per event)."""
    saved = index_module._WIDE
    index_module._WIDE = 0
    try:
        _check_agreement(rule_patterns, event_list)
    finally:
        index_module._WIDE = saved


def _check_agreement(rule_patterns: list[dict[str, Any]], event_list: list[Any]) -> None:
    compiled = [compile_pattern(pattern) for pattern in rule_patterns]
    rules = RuleIndex()
    for number, pattern in enumerate(compiled):
        rules.add(f"r{number}", pattern)
    for event in event_list:
        expected = {f"r{n}" for n, pattern in enumerate(compiled) if matches(pattern, event)}
        assert rules.match(event) == expected


# Patterns and events keyed on the envelope fields: a branch pinning both ``source`` and
# ``detail-type`` to exact values enters the index through one lookup of the pair, any other
# starts at the root. Values mix strings, numbers and null; events put arrays, objects and
# other scalars there, or leave the fields out, so that both entries are checked.
ENVELOPE_VALUES = ["s1", "s2", "S1", 1, 1.0, None]
envelope_values = st.sampled_from(ENVELOPE_VALUES)
envelope_fields = st.one_of(
    st.lists(envelope_values, min_size=1, max_size=3),
    st.lists(operators, min_size=1, max_size=2),
)
envelope_only = st.fixed_dictionaries(
    {}, optional={"source": envelope_fields, "detail-type": envelope_fields}
).filter(bool)
envelope_patterns = st.one_of(
    st.builds(
        lambda source, detail_type, body: {**body, "source": source, "detail-type": detail_type},
        st.lists(envelope_values, min_size=1, max_size=3),
        st.lists(envelope_values, min_size=1, max_size=3),
        st.just({}) | _patterns(1),
    ),
    st.builds(
        lambda envelope, body: {**body, **envelope}, envelope_only, st.just({}) | _patterns(1)
    ),
    st.builds(lambda a, b: {"$or": [a, b]}, envelope_only, envelope_only),
)
envelope_event_values = st.one_of(
    envelope_values,
    st.lists(
        envelope_values | st.dictionaries(st.sampled_from(KEYS), envelope_values, max_size=2),
        max_size=3,
    ),
    st.dictionaries(st.sampled_from(KEYS), envelope_values, max_size=2),
)
envelope_events = st.builds(
    lambda envelope, rest: {**rest, **envelope},
    st.fixed_dictionaries(
        {}, optional={"source": envelope_event_values, "detail-type": envelope_event_values}
    ),
    st.dictionaries(st.sampled_from(KEYS), events, max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(envelope_patterns, min_size=1, max_size=6),
    st.lists(envelope_events, min_size=1, max_size=4),
)
def test_envelope_entry_agrees_with_reference(
    rule_patterns: list[dict[str, Any]], event_list: list[Any]
) -> None:
    _check_agreement(rule_patterns, event_list)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["s1", "s2"]), min_size=1, max_size=2),
    st.lists(_patterns(1), min_size=1, max_size=5),
    st.lists(
        st.builds(
            lambda source, detail_type, rest: {
                **rest,
                "source": source,
                "detail-type": detail_type,
            },
            st.sampled_from(["s1", "s2"]),
            st.sampled_from(["s1", "s2"]),
            top_events,
        ),
        min_size=1,
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
def test_rules_sharing_an_envelope_agree(
    values: list[Any], bodies: list[dict[str, Any]], event_list: list[Any], rng: Any
) -> None:
    """Rules on one envelope, each extending the one before, added in any order: states
    entered through the envelope lookup gain children after others reached them."""
    envelope = {"source": values, "detail-type": values}
    rule_patterns = [{**envelope}]
    for body in bodies:
        rule_patterns.append({**rule_patterns[-1], **body})
    rng.shuffle(rule_patterns)
    _check_agreement(rule_patterns, event_list)


@settings(max_examples=100, deadline=None)
@given(st.lists(envelope_patterns, min_size=2, max_size=6), envelope_events, st.data())
def test_envelope_entry_after_removals_agrees(
    rule_patterns: list[dict[str, Any]], event: dict[str, Any], data: st.DataObject
) -> None:
    _check_after_removals(rule_patterns, event, data)


def test_envelope_entry_matches_every_pair_and_array_elements() -> None:
    index = RuleIndex()
    index.add("pair", compile_pattern({"source": ["a", "b"], "detail-type": ["X", 5]}))
    index.add("one", compile_pattern({"source": ["a"], "detail-type": ["X"], "n": [1]}))
    index.add("root", compile_pattern({"source": [{"prefix": "a"}], "detail-type": ["X"]}))
    assert index.match({"source": "b", "detail-type": 5}) == {"pair"}
    assert index.match({"source": "a", "detail-type": "X", "n": 1}) == {"pair", "one", "root"}
    assert index.match({"source": ["c", "a"], "detail-type": ["X"]}) == {"pair", "root"}
    assert index.match({"source": "a", "detail-type": 5.0}) == {"pair"}
    assert index.match({"source": "a"}) == set()
    # Leaves in different elements of one array never combine.
    split = {"e": [{"source": "a", "detail-type": "Y"}, {"source": "c", "detail-type": "X"}]}
    index.add("nested", compile_pattern({"e": {"source": ["a"], "detail-type": ["X"]}}))
    assert index.match(split) == set()


paths = st.lists(
    st.sampled_from(["a", "b", "c.d", "a.b", "a.c.d", "c", "a.a.b", "a.a.c.d", "a.b.a.b"]),
    min_size=1,
)


@settings(max_examples=300, deadline=None)
@given(top_events, paths)
def test_leaves_by_path_agree_with_collect(event: dict[str, Any], wanted: list[str]) -> None:
    """Path by path and over a trie, the index finds exactly the leaves the reference finds,
    with array numbers that compare across paths the same way."""
    reference = collect(event)
    arrays: dict[object, int] = {}
    one_by_one = {path: leaves_at(event, path_plan(path), arrays) for path in wanted}
    at_once = leaves_in(event, path_trie(wanted), arrays)
    for path in wanted:
        plain = plain_leaf(event, path_plan(path))
        if plain is NO_LEAF:
            assert one_by_one[path] == []
        elif plain is not NOT_PLAIN:
            assert one_by_one[path] == [(plain, value_key(plain), ())]
        assert sorted(map(repr, (v for v, _, _ in one_by_one[path]))) == sorted(
            map(repr, (v for v, _ in reference.get(path, [])))
        )
        assert sorted(map(repr, one_by_one[path])) == sorted(map(repr, at_once.get(path, [])))
    # Leaves agree on their arrays exactly when the reference's leaves do. Array numbers and
    # the order of leaves differ between the two, so each leaf is named by its path, value and
    # element indexes, and the consistency of every pair is compared as a multiset.
    ours = [
        (path, value, trace)
        for path in dict.fromkeys(wanted)
        for value, _, trace in one_by_one[path]
    ]
    theirs = [
        (path, value, trace)
        for path in dict.fromkeys(wanted)
        for value, trace in reference.get(path, [])
    ]
    assert _consistency(ours) == _consistency(theirs)


def _consistency(leaves: list[tuple[str, Any, Trace]]) -> Counter[tuple[str, str, bool]]:
    def name(leaf: tuple[str, Any, Trace]) -> str:
        return repr((leaf[0], leaf[1], [index for _, index in leaf[2]]))

    return Counter(
        (name(a), name(b), merge_traces(a[2], b[2]) is not None) for a in leaves for b in leaves
    )


def test_wide_state_with_thousands_of_paths() -> None:
    rules = RuleIndex()
    for number in range(3000):
        rules.add(f"r{number}", compile_pattern({"detail": {f"f{number}": [f"v{number}"]}}))
    rules.add("pair", compile_pattern({"detail": {"items": {"sku": ["A"], "qty": [2]}}}))
    event: dict[str, Any] = {
        "detail": {
            "f7": "v7",
            "f8": "nope",
            "f2999": ["x", "v2999"],
            "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}],
        }
    }
    assert rules.match(event) == {"r7", "r2999"}
    event["detail"]["items"].append({"sku": "A", "qty": 2})
    assert rules.match(event) == {"r7", "r2999", "pair"}


@settings(max_examples=100, deadline=None)
@given(st.lists(patterns, min_size=2, max_size=6), top_events, st.data())
def test_index_after_removals_agrees(
    rule_patterns: list[dict[str, Any]], event: dict[str, Any], data: st.DataObject
) -> None:
    _check_after_removals(rule_patterns, event, data)


def _check_after_removals(
    rule_patterns: list[dict[str, Any]], event: dict[str, Any], data: st.DataObject
) -> None:
    index = RuleIndex()
    live = {}
    for number, pattern in enumerate(rule_patterns):
        live[f"r{number}"] = compile_pattern(pattern)
        index.add(f"r{number}", live[f"r{number}"])
    removed = data.draw(st.sets(st.sampled_from(sorted(live))))
    for rule_id in removed:
        index.remove(rule_id)
        del live[rule_id]
    assert len(index) == len(live)
    assert index.match(event) == {r for r, p in live.items() if matches(p, event)}


def test_replacing_a_rule_uses_the_new_pattern() -> None:
    index = RuleIndex()
    index.add("r", compile_pattern({"source": ["a"]}))
    index.add("s", compile_pattern({"source": ["a"]}))
    assert index.match({"source": "a"}) == {"r", "s"}
    index.add("r", compile_pattern({"source": ["b"]}))
    assert index.match({"source": "a"}) == {"s"}
    assert index.match({"source": "b"}) == {"r"}
    assert "r" in index


def test_remove_unknown_rule_raises() -> None:
    index = RuleIndex()
    try:
        index.remove("nope")
    except KeyError:
        return
    raise AssertionError("remove of an unknown id must raise KeyError")


def test_many_rules_share_states_and_match_exactly() -> None:
    index = RuleIndex()
    for number in range(2000):
        pattern = {"source": [f"s{number % 50}"], "detail": {"n": [{"numeric": [">", number]}]}}
        index.add(f"r{number}", compile_pattern(pattern))
    hits = index.match({"source": "s7", "detail": {"n": 120}})
    assert hits == {f"r{n}" for n in range(7, 120, 50)}


def test_state_stops_being_flat_when_a_child_gains_conditions() -> None:
    """A rule extending another's final state makes the state before it take the full walk."""
    index = RuleIndex()
    envelope = {"source": ["s"], "detail-type": ["d"]}
    index.add("short", compile_pattern({**envelope, "x": ["1"]}))
    assert index.match({"source": "s", "detail-type": "d", "x": "1"}) == {"short"}
    index.add("long", compile_pattern({**envelope, "x": ["1"], "y": ["2"]}))
    event = {"source": "s", "detail-type": "d", "x": "1", "y": "2"}
    assert index.match(event) == {"short", "long"}
    assert index.match({**event, "y": "3"}) == {"short"}
    index.add("absent", compile_pattern({**envelope, "z": [{"exists": False}]}))
    assert index.match(event) == {"short", "long", "absent"}
    assert index.match({**event, "z": 0}) == {"short", "long"}


def test_flatten_paths_and_traces() -> None:
    leaves = flatten({"a": {"b": [1, {"c": "x"}]}, "d.e": None, "f": {}})
    assert leaves == (
        Leaf(path="a.b", value=1, trace=((0, 0),)),
        Leaf(path="a.b.c", value="x", trace=((0, 1),)),
        Leaf(path="d.e", value=None),
    )


def test_public_api_is_pinned() -> None:
    assert sorted(oncue.patterns.__all__) == sorted(
        [
            "REQUIRED_TEST_EVENT_FIELDS",
            "Condition",
            "Leaf",
            "Pattern",
            "RuleIndex",
            "compile_pattern",
            "flatten",
            "matches",
            "parse_test_event",
        ]
    )
