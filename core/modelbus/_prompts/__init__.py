"""Prompt templates and conversations."""
