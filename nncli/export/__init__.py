"""Trained models to formats other runtimes read (ONNX), preprocessing included."""

from __future__ import annotations

from nncli.export.onnx import INSTALL_HINT, OPSET, ExportError, build_onnx, export_onnx

__all__ = ["INSTALL_HINT", "OPSET", "ExportError", "build_onnx", "export_onnx"]
