"""The logging lab's compatibility switch: pandas 2's fills, restored in the kernel.

Sent to the kernel as text and run there before the first cell (grader.engine.lab.Compatibility
with source=this file): self-contained, standard library and pandas only, since the grader's
package is not importable in the kernel.

The lab's data generator back-fills a column with
`df["previous_days_demand"].fillna(method="bfill", inplace=True)`. Under pandas 3 that call
raises TypeError (fillna has no `method=` any more), and even rewritten as
`df["previous_days_demand"].bfill(inplace=True)` it fills a copy and leaves `df` unchanged
(copy-on-write). Under pandas 2, which the lab was written for, it filled the frame's column.
"""

# mypy: ignore-errors


def pandas_2_fills(value, changed):
    """fillna(method="bfill"/"ffill", ...) fills as .bfill()/.ffill() do, and an in-place fill
    of a column taken from a DataFrame (`df[col].fillna(..., inplace=True)`, `.bfill(...)`,
    `.ffill(...)`) fills that column of the DataFrame, as under pandas 2. VALUE names what is
    restored (for the feedback); CHANGED() is called each time a call of the notebook's was
    changed by this, so that the feedback names the switch only then. A pandas that still
    takes `method=` (pandas 2) is left as it is."""
    import functools
    import inspect
    import weakref

    import pandas as pd

    if "method" in inspect.signature(pd.Series.fillna).parameters:
        return
    # id(column) -> (the column, the frame it was taken from, its key), while both live: how
    # an in-place fill of a column finds the frame pandas 2 would have filled with it.
    taken = {}

    def forget(ref, key):
        if taken.get(key, (None,))[0] is ref:
            del taken[key]

    original_getitem = pd.DataFrame.__getitem__

    @functools.wraps(original_getitem)
    def getitem(self, key):
        got = original_getitem(self, key)
        if isinstance(got, pd.Series) and isinstance(key, str):
            ident = id(got)
            taken[ident] = (
                weakref.ref(got, lambda ref: forget(ref, ident)),
                weakref.ref(self),
                key,
            )
        return got

    def parent(series):
        found = taken.get(id(series))
        if found is None or found[0]() is not series:
            return None
        frame, key = found[1](), found[2]
        if frame is None or key not in frame.columns:
            return None
        # Only while the frame's column still holds what this series holds: a column assigned
        # anew since was not filled by pandas 2 either.
        if not original_getitem(frame, key).equals(series):
            return None
        return frame, key

    def filling(original, by_method):
        @functools.wraps(original)
        def fill(self, *args, **kwargs):
            method = kwargs.pop("method", None) if by_method else None
            if method is not None:
                changed()
                name = {"bfill": "bfill", "backfill": "bfill", "ffill": "ffill", "pad": "ffill"}
                if method not in name:
                    raise ValueError(
                        f"fillna: method must be one of {sorted(name)}, not {method!r}"
                    )
                how = getattr(type(self), name[method])
                return fill_in_place(self, how, args, kwargs)
            return fill_in_place(self, original, args, kwargs)

        return fill

    def fill_in_place(self, how, args, kwargs):
        home = parent(self) if kwargs.get("inplace") and isinstance(self, pd.Series) else None
        out = how(self, *args, **kwargs)
        if home is not None:
            frame, key = home
            frame[key] = self
            changed()
        return out

    pd.DataFrame.__getitem__ = getitem
    pd.Series.fillna = filling(pd.Series.fillna, True)
    pd.DataFrame.fillna = filling(pd.DataFrame.fillna, True)
    pd.Series.bfill = filling(pd.Series.bfill, False)
    pd.Series.ffill = filling(pd.Series.ffill, False)
