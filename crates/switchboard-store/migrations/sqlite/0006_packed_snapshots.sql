-- switchboard schema 6: snapshots are stored compressed (an LZ4 frame of their JSON) in `packed`, which is about
-- a sixth of the JSON's size to write and sync; `body` is then empty. Snapshots written before keep their JSON in
-- `body` (and no `packed`) and are still read.
ALTER TABLE snapshots ADD COLUMN packed BLOB;
