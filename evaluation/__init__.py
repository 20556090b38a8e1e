"""Evaluation: the bootstrap over patients, FROC, COCO mAP, detection, classification and
screening figures, and their plots. Imports only :mod:`converters`, so every model package
and every command measures with the same code."""
