"""The graphrun event contract (schemas/event.schema.json, schema_version 1.0) as pydantic models.

FastAPI validates POST /events against these and publishes them in its OpenAPI, so they mirror
the JSON schema field for field: the same required fields, enums, bounds, no extra properties,
and (in a before-validator, since pydantic has no if/then) the rules that depend on category and
event_type. They work with pydantic v1 (Debian 12's FastAPI 0.92) and v2; the few spots where the
two differ go through the small shims below.

Types are strict as in JSON Schema: "0.5" is no number, 1 is no boolean, null only where the
schema allows it (pose_label, pose_confidence, snapshot).
"""
import math
import re
from typing import Any, Dict, List, Optional

import pydantic
from pydantic import BaseModel, Field, StrictBool, conint, constr

try:  # typing.Literal on 3.8+
    from typing import Literal
except ImportError:  # pragma: no cover
    from typing_extensions import Literal  # type: ignore

PYDANTIC_V2 = pydantic.VERSION.startswith("2")

SCHEMA_VERSION = "1.0"
EVENT_TYPES = ("person_detected", "fall", "collapsed", "wildlife_intrusion", "object_detected")
#: Fields the schema lets be null; every other optional field must be absent rather than null.
NULLABLE = frozenset({"pose_label", "pose_confidence", "snapshot"})
#: category → (fields it requires, event types it allows)
CATEGORY_RULES = {
    "human": (("pose_label", "pose_confidence", "keypoints"), ("person_detected", "fall", "collapsed")),
    "wildlife": (("species", "species_confidence", "threat_level", "behavior_hint"), ("wildlife_intrusion",)),
    "other": ((), ("object_detected",)),
}
#: event types that need since_utc
NEEDS_SINCE = ("fall", "collapsed")

# RFC 3339 date-time with a zone, as JSON Schema's "date-time" format; the calendar check is below.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^(urn:uuid:)?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*$")


# ---- v1/v2 shims -------------------------------------------------------------------------

if PYDANTIC_V2:
    from pydantic import ConfigDict, confloat, conlist, field_validator, model_validator

    def number(**bounds: Any) -> Any:
        """A JSON number (int or float, never bool or string, finite) within bounds."""
        return confloat(strict=True, allow_inf_nan=False, **bounds)

    def array(item: Any, max_items: Optional[int] = None) -> Any:
        return conlist(item, max_length=max_items)

    def extra(**schema: Any) -> Dict[str, Any]:
        """Field(...) keywords that add plain JSON-schema keywords (format, uniqueItems)."""
        return {"json_schema_extra": schema}

    def check_fields(*names: str) -> Any:
        return field_validator(*names)

    def check_raw(fn: Any) -> Any:
        """A validator that sees the raw input dict before the fields are parsed (fn raises ValueError)."""
        def run(cls: Any, data: Any) -> Any:
            fn(data)
            return data
        return model_validator(mode="before")(classmethod(run))

    def forbid_extra(schema_fix: Any = None) -> Dict[str, Any]:
        cfg = ConfigDict(extra="forbid")
        if schema_fix is not None:
            cfg["json_schema_extra"] = schema_fix
        return {"model_config": cfg}
else:
    from pydantic import ConstrainedFloat, conlist, root_validator, validator

    class _JsonNumber(ConstrainedFloat):
        allow_inf_nan = False

        @classmethod
        def __get_validators__(cls):  # type: ignore[override]
            yield _strict_number
            yield from super().__get_validators__()

    def _strict_number(v: Any) -> Any:
        # pydantic v1's float accepts "0.5" and true; its StrictFloat refuses 1: JSON numbers are both.
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError("value is not a number")
        if not math.isfinite(v):
            raise ValueError("value is not a finite number")
        return v

    def number(**bounds: Any) -> Any:
        return type("JsonNumber", (_JsonNumber,), bounds)

    def array(item: Any, max_items: Optional[int] = None) -> Any:
        return conlist(item, max_items=max_items)

    def extra(**schema: Any) -> Dict[str, Any]:
        return dict(schema)  # v1 copies unknown Field keywords into the schema

    def check_fields(*names: str) -> Any:
        return validator(*names, allow_reuse=True)

    def check_raw(fn: Any) -> Any:
        def run(cls: Any, values: Any) -> Any:
            fn(values)
            return values
        return root_validator(pre=True, allow_reuse=True)(run)

    def forbid_extra(schema_fix: Any = None) -> Dict[str, Any]:
        attrs: Dict[str, Any] = {"extra": pydantic.Extra.forbid}
        if schema_fix is not None:
            attrs["schema_extra"] = staticmethod(schema_fix)
        return {"Config": type("Config", (), attrs)}


def _model(name: str, doc: str, fields: Dict[str, Any], *, base: Any = BaseModel, schema_fix: Any = None, validators: Optional[Dict[str, Any]] = None) -> Any:
    """Builds a model class (annotations + Field defaults) with extra="forbid" in either pydantic."""
    ns: Dict[str, Any] = {"__doc__": doc, "__module__": __name__, "__annotations__": {}}
    for key, (annotation, default) in fields.items():
        ns["__annotations__"][key] = annotation
        ns[key] = default
    ns.update(forbid_extra(schema_fix))
    ns.update(validators or {})
    return type(name, (base,), ns)


def _date_time(cls: Any, v: Any) -> Any:
    if v is None:
        return v
    if not _DATE_TIME.match(v):
        raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2024-05-01T12:00:00.000Z")
    import datetime
    try:
        datetime.datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", v).replace("t", "T").replace(" ", "T", 1))
    except ValueError as err:
        raise ValueError("not a valid date-time: %s" % err)
    return v


def _uuid(cls: Any, v: Any) -> Any:
    if not _UUID.match(v):
        raise ValueError("must be a UUID (8-4-4-4-12 hex digits)")
    return v


def _uri(cls: Any, v: Any) -> Any:
    if v is not None and not _URI.match(v):
        raise ValueError("must be an absolute URI")
    return v


NonEmpty = constr(strict=True, min_length=1)
Unit = number(ge=0, le=1)
Count = conint(strict=True, ge=0)
Positive = conint(strict=True, ge=1)


def _f(description: Optional[str] = None, **kw: Any) -> Any:
    """A required field."""
    return Field(..., description=description, **kw)


def _o(description: Optional[str] = None, **kw: Any) -> Any:
    """An optional field (absent unless the schema says null is allowed)."""
    return Field(None, description=description, **kw)


Box = _model("Box", "Axis-aligned box in source pixels: top-left corner, width, height.", {
    "x": (number(), _f()),
    "y": (number(), _f()),
    "w": (number(ge=0), _f()),
    "h": (number(ge=0), _f()),
})

FrameSize = _model("FrameSize", "Size of the camera picture bbox and keypoints refer to.", {
    "width": (Positive, _f()),
    "height": (Positive, _f()),
})

Keypoint = _model("Keypoint", "One keypoint in source pixels.", {
    "x": (number(), _f()),
    "y": (number(), _f()),
    "score": (Unit, _f()),
})

Snapshot = _model("Snapshot", "The JPEG of the event frame; sinks set url or key where they stored it.", {
    "content_type": (Literal["image/jpeg"], _f()),
    "width": (Positive, _f()),
    "height": (Positive, _f()),
    "bytes": (Positive, _f()),
    "crop": (Optional[Box], _o("Region of the frame the picture shows, when cropped.")),
    "url": (Optional[constr(strict=True)], _o("Where a sink stored it (s3-sink: the object URL).", **extra(format="uri"))),
    "key": (Optional[constr(strict=True)], _o("Object key or file path where a sink stored it.")),
}, schema_fix=lambda schema, *_: _openapi_fix(schema), validators={
    "check_nulls": check_raw(lambda data: _no_nulls(data, ("content_type", "width", "height", "bytes", "crop", "url", "key"))),
    "check_url": check_fields("url")(_uri),
})


def _no_nulls(data: Any, fields: Any, allowed: Any = ()) -> None:
    if isinstance(data, dict):
        nulls = sorted(k for k, v in data.items() if v is None and k in fields and k not in allowed)
        if nulls:
            raise ValueError("%s may not be null (leave the field out instead)" % ", ".join(nulls))


def contract_rules(data: Any) -> Any:
    """The schema's rules that pydantic fields cannot say: null only where allowed, unique zones,
    and the if/then rules on category and event_type. Raises ValueError naming the fields."""
    if not isinstance(data, dict):
        return data
    _no_nulls(data, EVENT_FIELDS, NULLABLE)
    zones = data.get("zones")
    if isinstance(zones, list) and all(isinstance(z, str) for z in zones) and len(set(zones)) != len(zones):
        raise ValueError("zones must not repeat a name")
    category, event_type = data.get("category"), data.get("event_type")
    if isinstance(category, str) and category in CATEGORY_RULES:
        required, types = CATEGORY_RULES[category]
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError("category %r requires %s" % (category, ", ".join(missing)))
        if isinstance(event_type, str) and event_type in EVENT_TYPES and event_type not in types:
            raise ValueError("category %r allows event_type %s, not %r" % (category, " or ".join(types), event_type))
    if event_type in NEEDS_SINCE and "since_utc" not in data:
        raise ValueError("event_type %r requires since_utc" % event_type)
    return data


def _openapi_fix(schema: Dict[str, Any], *_: Any) -> None:
    """Optional fields that may not be null are shown without null (pydantic v2 adds it); the
    nullable ones get OpenAPI 3.0's nullable: true, and null in their enum (pydantic v1 drops null)."""
    for key, prop in schema.get("properties", {}).items():
        alts = prop.get("anyOf")
        if key not in NULLABLE and isinstance(alts, list):
            rest = [a for a in alts if a != {"type": "null"}]
            if len(rest) == 1 and len(rest) < len(alts):
                del prop["anyOf"]
                prop.update(rest[0])
        if key in NULLABLE and not PYDANTIC_V2:
            prop["nullable"] = True
            if "enum" in prop and None not in prop["enum"]:
                prop["enum"] = list(prop["enum"]) + [None]  # OpenAPI 3.0: an enum lists null to allow it


_EVENT_DOC = (
    "One graphrun event (schemas/event.schema.json, schema_version 1.0). Besides the fields: "
    "category human requires pose_label, pose_confidence, keypoints and event_type person_detected, "
    "fall or collapsed; category wildlife requires species, species_confidence, threat_level, "
    "behavior_hint and event_type wildlife_intrusion; category other requires event_type "
    "object_detected; event_type fall and collapsed require since_utc."
)

_EVENT_FIELDS: Dict[str, Any] = {
    "schema_version": (Literal["1.0"], _f("Version of this contract.")),
    "event_id": (constr(strict=True), _f("UUID v4; the idempotency key.", **extra(format="uuid"))),
    "event_type": (Literal["person_detected", "fall", "collapsed", "wildlife_intrusion", "object_detected"], _f(
        "person_detected (info), fall (warn), collapsed (critical), wildlife_intrusion, object_detected.")),
    "category": (Literal["human", "wildlife", "other"], _f()),
    "stream_id": (constr(strict=True, min_length=1, max_length=200), _f("Camera or stream id.")),
    "track_id": (Count, _f("Tracker id, unique within the stream while graphrun runs.")),
    "timestamp_utc": (constr(strict=True), _f("Capture time of the frame that raised the event (ISO 8601, UTC).", **extra(format="date-time"))),
    "frame_index": (Count, _f("Sequence number of that frame in its stream.")),
    "frame_size": (Optional[FrameSize], _o("Size of the camera picture bbox and keypoints refer to.")),
    "bbox": (Box, _f()),
    "confidence": (Unit, _f("Detector score of the object in this frame.")),
    "label": (NonEmpty, _f("The detector's class label (person, bear, dog, …).")),
    "risk_level": (Literal["info", "warn", "critical"], _f("How urgent.")),
    "reason": (Literal["first_sighting", "escalation", "after_cooldown"], _f("Why this event left the cooldown gate.")),
    "zones": (Optional[array(NonEmpty)], _o("Names of the zones the object is in.", **extra(uniqueItems=True))),
    "inference_latency_ms": (number(ge=0), _f("Detector time for the frame.")),
    "gpu_enabled": (StrictBool, _f("Whether a GPU execution provider ran the detector.")),
    "model": (Optional[constr(strict=True)], _o("Detector model id or file name.")),
    "pose_label": (Optional[Literal["standing", "crouching", "sitting", "lying"]], _o("Human: posture, null when no pose was estimated.")),
    "pose_confidence": (Optional[Unit], _o("Human: posture confidence, null when no pose was estimated.")),
    "keypoints": (Optional[array(Keypoint, max_items=133)], _o("Human: keypoints in source pixels, COCO-17 order; empty when no pose was estimated.")),
    "species": (Optional[NonEmpty], _o("Wildlife: species from the model's label table.")),
    "species_confidence": (Optional[Unit], _o("Wildlife: species confidence.")),
    "threat_level": (Optional[Literal["none", "low", "medium", "high"]], _o("Wildlife: from the species table.")),
    "behavior_hint": (Optional[Literal["feeding", "moving", "running"]], _o("Wildlife: from the track's speed.")),
    "since_utc": (Optional[constr(strict=True)], _o("fall: the last upright frame; collapsed: when the person stopped moving.", **extra(format="date-time"))),
    "snapshot": (Optional[Snapshot], _o("The JPEG of the event frame, when a snapshot node made one.")),
}
EVENT_FIELDS = frozenset(_EVENT_FIELDS)

_EVENT_VALIDATORS = {
    "check_rules": check_raw(contract_rules),
    "check_id": check_fields("event_id")(_uuid),
    "check_times": check_fields("timestamp_utc", "since_utc")(_date_time),
}

Event = _model("Event", _EVENT_DOC, _EVENT_FIELDS, schema_fix=_openapi_fix, validators=_EVENT_VALIDATORS)

EventSubmission = _model("EventSubmission", _EVENT_DOC + (
    " As a request body it may carry one more field, image_jpeg_base64: the snapshot JPEG inline "
    "(stored like an upload, and not kept in the event JSON)."
), dict(_EVENT_FIELDS, image_jpeg_base64=(Optional[constr(strict=True, min_length=1)], _o(
    "The snapshot JPEG, base64 (RFC 4648), when the sender sends it inline instead of POST /upload."))),
    schema_fix=_openapi_fix, validators=_EVENT_VALIDATORS)


def to_dict(model: Any) -> Dict[str, Any]:
    """The fields that were sent (none added as defaults)."""
    return model.model_dump(exclude_unset=True) if PYDANTIC_V2 else model.dict(exclude_unset=True)


def json_schema(model: Any) -> Dict[str, Any]:
    return model.model_json_schema() if PYDANTIC_V2 else model.schema()


def validation_errors(model: Any, data: Any) -> List[Dict[str, Any]]:
    """Errors of `data` against `model` as FastAPI reports them ([] when valid)."""
    try:
        model.model_validate(data) if PYDANTIC_V2 else model.parse_obj(data)
    except pydantic.ValidationError as err:
        return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in err.errors()]
    return []
