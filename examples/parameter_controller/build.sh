#!/bin/sh
# Packs the pipeline's one program (UniversalPackage build script: copy into $BUILDDIR).
cp stage.py "$BUILDDIR/"
