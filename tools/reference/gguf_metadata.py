#!/usr/bin/env python3
"""Dumps a GGUF file's header, metadata and tensor infos as JSON, read with
the `gguf` Python package's GGUFReader (independent of our C++ reader).

Scalars are stored whole; arrays as their element type, length and first /
last few elements, so the golden stays small for vocabulary-sized arrays.

Usage: gguf_metadata.py MODEL.gguf OUT.json
  e.g. gguf_metadata.py models/SmolLM2-135M-Instruct.Q4_1.gguf \
           tests/golden/gguf/smollm2_135m_q4_1.json
"""
import json
import sys

from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType

EDGE = 5  # array elements kept from each end


def type_name(value_type: GGUFValueType) -> str:
    return value_type.name.lower()


def field_json(field) -> dict:
    main_type = field.types[0]
    entry = {"key": field.name, "type": type_name(main_type)}
    if main_type != GGUFValueType.ARRAY:
        entry["value"] = field.contents()
        return entry
    if len(field.types) > 2:
        raise SystemExit(f"{field.name}: nested arrays are not in the golden format")
    length = len(field.data)
    entry["element_type"] = type_name(field.types[-1]) if length else None
    entry["length"] = length
    entry["first"] = field.contents(slice(0, min(EDGE, length)))
    entry["last"] = field.contents(slice(max(0, length - EDGE), length))
    return entry


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    reader = GGUFReader(sys.argv[1])
    fields = list(reader.fields.values())
    # GGUFReader lists the header (GGUF.version, ...) as pseudo-fields first.
    header = {f.name: f.contents() for f in fields if f.name.startswith("GGUF.")}
    golden = {
        "version": header["GGUF.version"],
        "alignment": reader.alignment,
        "data_offset": reader.data_offset,
        "metadata": [field_json(f) for f in fields if not f.name.startswith("GGUF.")],
        "tensors": [
            {
                "name": t.name,
                "dims": [int(d) for d in t.shape],
                "type": GGMLQuantizationType(t.tensor_type).name,
                "type_id": int(t.tensor_type),
                "offset": int(t.data_offset - reader.data_offset),
                "num_elements": int(t.n_elements),
                "num_bytes": int(t.n_bytes),
            }
            for t in reader.tensors
        ],
    }
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(golden, out, ensure_ascii=False, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
