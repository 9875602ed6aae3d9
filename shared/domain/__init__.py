"""Domain parts several programs share: the Plan aggregate, primary agencies, reference data, 和暦, audit views."""
