"""JSON control messages: round trips and one precise error per kind of bad hello."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biosig.protocol import (
    Ack,
    ChannelSpec,
    Closed,
    Config,
    ControlError,
    End,
    Error,
    Gap,
    Hello,
    Ready,
    Result,
    parse_message,
)

HELLO = {
    "type": "hello",
    "stream": "myo-1",
    "channels": [{"name": f"emg{i}", "type": "emg", "unit": "a.u."} for i in range(8)],
    "sfreq": 200,
    "dtype": "int8",
    "scale": 1.0,
    "device": {"kind": "myo", "name": "armband"},
}


def test_hello_parses_with_defaults():
    msg = parse_message(json.dumps(HELLO))
    assert isinstance(msg, Hello)
    assert msg.n_channels == 8 and msg.sfreq == 200.0 and msg.dtype == "int8"
    assert msg.channels[0] == ChannelSpec("emg0", "emg", "a.u.")
    assert (msg.resume, msg.labels, msg.embeddings, msg.protocol) == (False, True, False, 1)
    assert parse_message(msg.to_json()) == msg


def test_channel_unit_defaults_to_the_types_si_unit():
    hello = {**HELLO, "channels": [{"name": "c3", "type": "eeg"}]}
    assert parse_message(json.dumps(hello)).channels[0].unit == "V"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"stream": "bad key!"}, "hello.stream must be 1-64 characters"),
        ({"channels": []}, r"hello.channels must be a list of 1-1024 channel objects, got \[\]"),
        ({"channels": [{"name": "a", "type": "emgg"}]}, r"hello.channels\[0\].type must be one of .*got 'emgg'"),
        ({"channels": [{"name": "a", "type": "emg"}] * 2}, r"names must be unique, got duplicates \['a'\]"),
        (
            {"channels": [{"name": "a", "type": "emg", "gain": 2}]},
            r"hello.channels\[0\] has unknown field\(s\) \['gain'\]",
        ),
        ({"sfreq": -200}, "hello.sfreq must be a positive number, got -200"),
        ({"sfreq": "200"}, "hello.sfreq must be a finite number, got '200'"),
        ({"dtype": "uint16"}, r"hello.dtype must be one of \['float32', 'int16', 'int32', 'int8'\], got 'uint16'"),
        ({"scale": 0}, "hello.scale must be a finite non-zero number"),
        ({"resume": "yes"}, "hello.resume must be true or false, got 'yes'"),
        ({"protocol": 2}, "hello.protocol must be 1"),
        ({"sfreg": 200}, r"hello has unknown field\(s\) \['sfreg'\]"),
    ],
)
def test_bad_hello_is_refused_with_the_field_named(change, match):
    with pytest.raises(ControlError, match=match) as info:
        parse_message(json.dumps({**HELLO, **change}))
    assert info.value.code == "bad_hello"


def test_missing_sfreq_is_named():
    hello = {k: v for k, v in HELLO.items() if k != "sfreq"}
    with pytest.raises(ControlError, match="hello.sfreq is required"):
        parse_message(json.dumps(hello))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object with a 'type', got list"),
        ('{"type": "ready"}', r"type must be one of \['config', 'end', 'hello'\], got 'ready'"),
        ('{"type": "config", "labels": 1}', "config.labels must be true or false, got 1"),
        ('{"type": "end", "now": true}', r"end has unknown field\(s\) \['now'\]"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_other_bad_client_messages(text, match):
    with pytest.raises(ControlError, match=match) as info:
        parse_message(text)
    assert info.value.code == "bad_message"


def test_client_messages_round_trip():
    assert parse_message(Config(embeddings=True).to_json()) == Config(embeddings=True)
    assert parse_message(End().to_json()) == End()


@pytest.mark.parametrize(
    "msg",
    [
        Ready(7, "s-1", "myo-1", 0, None, False, 32, 65536, "cpep_myo", 1.0, 0.05),
        Ack(seq=12, samples=1300),
        Result(0, 200, 1.0, "fist", 0.8, {"fist": 0.8, "rest": 0.1}, False, [0.5, -0.5], 3.2),
        Gap(100, 150, 4),
        Error("bad_crc", "frame CRC32 is ...", seq=3),
        Closed(10, 1000, 19, 0, 1),
    ],
)
def test_service_messages_round_trip(msg):
    assert parse_message(msg.to_json(), sender="service") == msg


def test_service_message_with_unknown_field_is_refused():
    with pytest.raises(ControlError, match=r"ack has unknown field\(s\) \['extra'\]"):
        parse_message('{"type": "ack", "seq": 1, "samples": 2, "extra": 0}', sender="service")
    with pytest.raises(ControlError, match=r"ack lacks field\(s\) \['samples'\]"):
        parse_message('{"type": "ack", "seq": 1}', sender="service")


def test_oversize_message_is_refused():
    with pytest.raises(ControlError, match="control message is 70000 bytes; at most 65536"):
        parse_message("x" * 70000)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_arbitrary_text_raises_only_control_error(text):
    try:
        parse_message(text)
    except ControlError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(HELLO) + ["resume", "labels", "x"]), st.from_type(object) | st.none(), max_size=6
    )
)
def test_arbitrary_hello_fields_raise_only_control_error(fields):
    try:
        parse_message(json.dumps({**HELLO, **fields, "type": "hello"}, default=str))
    except ControlError:
        pass
