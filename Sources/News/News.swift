// RSS/Atom news ingestion for the M1 reviewer.
