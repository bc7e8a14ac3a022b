-- What the classifier found in a record (its categories, never the matched text), in the clear
-- beside its level so scopes and reports can use them, and bound in the record's AAD (record/v2).
-- NULL marks a record sealed before classification existed (record/v1 AAD).
ALTER TABLE activity_records ADD COLUMN categories text[];
