"""The data side: sources -> records -> clean -> threads -> examples -> split -> personas -> dataset."""
