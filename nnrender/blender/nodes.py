"""Typed helpers for node trees (shader, geometry, compositor): nodes, sockets, maths."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import bpy

Socket = bpy.types.NodeSocket
Tree = bpy.types.NodeTree
Input = Socket | float | int | None


def node(nt: Tree, kind: str, loc: tuple[float, float], **props: Any) -> bpy.types.Node:
    """A new node of ``kind`` at ``loc`` with ``props`` set."""
    new = nt.nodes.new(kind)
    new.location = loc
    for key, value in props.items():
        setattr(new, key, value)
    return new


def sock(sockets: Iterable[Socket], identifier: str) -> Socket:
    """A socket by identifier (``node.inputs[name]`` finds the first of equal names)."""
    return next(s for s in sockets if s.identifier == identifier)


def _feed(nt: Tree, target: Socket, src: Input) -> None:
    if src is None:
        return
    if isinstance(src, (int, float)):
        target.default_value = float(src)
    else:
        nt.links.new(src, target)


def math_op(nt: Tree, op: str, a: Input, b: Input = None, loc: tuple[float, float] = (0, 0),
         clamp: bool = False) -> Socket:
    """A Math node's output: ``op(a, b)``; numbers become default values."""
    new = node(nt, "ShaderNodeMath", loc, operation=op, use_clamp=clamp)
    for i, src in enumerate((a, b)):
        _feed(nt, new.inputs[i], src)
    return new.outputs[0]


def vector_op(nt: Tree, op: str, a: Socket, b: Socket, loc: tuple[float, float] = (0, 0)
          ) -> Socket:
    new = node(nt, "ShaderNodeVectorMath", loc, operation=op)
    nt.links.new(a, new.inputs[0])
    nt.links.new(b, new.inputs[1])
    return new.outputs[0]


def mix(nt: Tree, kind: str, fac: Socket, a: Socket, b: Socket,
        loc: tuple[float, float]) -> Socket:
    """A Mix node (``kind`` Float, Vector or Color), factor clamped to 0..1."""
    data_type = {"Float": "FLOAT", "Vector": "VECTOR", "Color": "RGBA"}[kind]
    new = node(nt, "ShaderNodeMix", loc, data_type=data_type, clamp_factor=True)
    nt.links.new(fac, sock(new.inputs, "Factor_Float"))
    nt.links.new(a, sock(new.inputs, f"A_{kind}"))
    nt.links.new(b, sock(new.inputs, f"B_{kind}"))
    return sock(new.outputs, f"Result_{kind}")


def named(ng: Tree, name: str, data_type: str, loc: tuple[float, float]) -> Socket:
    """Geometry Nodes: a Named Attribute's value."""
    new = node(ng, "GeometryNodeInputNamedAttribute", loc, data_type=data_type)
    new.inputs["Name"].default_value = name
    return new.outputs["Attribute"]


def group_input(ng: Tree, name: str, socket_type: str, default: Any = None) -> None:
    """An input socket on a node group's interface."""
    item = ng.interface.new_socket(name, in_out="INPUT", socket_type=socket_type)
    if default is not None:
        item.default_value = default


def geometry_socket(ng: Tree, in_out: str) -> None:
    """The Geometry input (``in_out="INPUT"``) or output a geometry group passes along."""
    ng.interface.new_socket("Geometry", in_out=in_out, socket_type="NodeSocketGeometry")


def socket_id(ng: Tree, name: str) -> str:
    """The modifier key of a group input (``Socket_N``): ``mod[key]``."""
    return next(item.identifier for item in ng.interface.items_tree
                if item.item_type == "SOCKET" and item.in_out == "INPUT" and item.name == name)
