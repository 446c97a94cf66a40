#!/usr/bin/env bash
cd "$(dirname "$0")/../.." && exec .venv/bin/python -m e2e.demo stop
