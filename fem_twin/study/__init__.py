"""Parameter studies: the discharge study's cases (:mod:`.cases`), their runner (:mod:`.runner`) and
tables (:mod:`.tables`). The command lines are in :mod:`fem_twin.commands.study` and
:mod:`fem_twin.commands.study_discharge`."""
