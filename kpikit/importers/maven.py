"""Maven Analytics' public "CRM Sales Opportunities" sample (``shared/datasets/maven_crm``).

``kpikit import maven sales_pipeline.csv sales_teams.csv accounts.csv products.csv --out DIR``

==================  ==================================================  =============
file                what kpikit makes of it                             table
==================  ==================================================  =============
sales_pipeline.csv  one opportunity per row; ``sales_agent`` (a name)   opportunities,
                    is the owner; ``engage_date`` / ``close_date``      stage_history
                    are stage entries
sales_teams.csv     the agents (35, five without deals), their          reps
                    manager (``manager``) and office (``team``)
accounts.csv        the accounts; ``sector`` becomes ``segment``        accounts
                    (typos such as ``technolgy`` kept as written)
products.csv        list prices, joined onto the deals by product       extra columns
                    name (``GTXPro`` matches ``GTX Pro``)
==================  ==================================================  =============

Decisions, each one what the data allows and no more:

* **Stages** ``Prospecting -> Engaging -> Won`` (``Lost`` terminal). None of them
  is an SQL, meeting or proposal step, so those funnel steps are left unset
  and the conversion metrics that need them say so.
* **created_at** is the ``engage_date``: the earliest date the data knows for a
  deal (the Prospecting entry is not recorded). A deal without any date (every
  Prospecting deal: no engage_date, no close_date) is **not imported**; the
  import counts them in a warning.
* **amount**: ``close_value`` for won deals; for open and lost deals the
  product's list price (``products.sales_price``) as the expected value. A lost
  deal's ``close_value`` is 0 in this export (no revenue), which is not the size
  of the deal that was lost; it is kept as the extra column ``close_value`` and
  ``amount_basis`` says which value ``amount`` holds.
* **stage_history**: ``Engaging`` entered at ``engage_date``, ``Won`` / ``Lost``
  at ``close_date``. Nothing else is invented: there is no Prospecting entry.
* **accounts.annual_revenue** = ``revenue`` x 1,000,000 (the file gives millions
  of USD; the original is kept as ``revenue_musd``). Deals without an account
  (1,425) keep an empty ``account_id``.
* The export has no activities, leads, quotas, customers or costs: the metrics
  that need them are reported as not available in this export.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpikit.importers.common import (
    SOURCE_FILE,
    SOURCE_ROW,
    Context,
    ExportFile,
    Kind,
    Source,
    Stages,
    Where,
    parse_amounts,
)

STAGES = Stages(order=("Prospecting", "Engaging"), won=("Won",), lost=("Lost",))


def _close_value(df: pd.DataFrame, ex: ExportFile, ctx: Context) -> pd.DataFrame:
    header = ex.find(("close_value",))
    if header is not None:
        df["close_value"], _ = parse_amounts(ex.column(header), where=Where(ex.name, header),
                                             rows=ex.rows, decimal=ctx.decimal)
    return df


def _revenue(df: pd.DataFrame, ex: ExportFile, ctx: Context) -> pd.DataFrame:
    if "annual_revenue" in df.columns:
        df["revenue_musd"] = df["annual_revenue"]
        df["annual_revenue"] = df["annual_revenue"] * 1_000_000
    return df


PIPELINE = Kind(
    name="sales_pipeline",
    table="opportunities",
    signature=(("deal_stage",), ("sales_agent",)),
    columns={
        "opportunity_id": ("opportunity_id",),
        "rep_id": ("sales_agent",),
        "created_at": ("engage_date",),
        "stage": ("deal_stage",),
        "close_date": ("close_date",),
        "account_id": ("account",),
        "product": ("product",),
    },
    extras={"engage_date": ("engage_date",)},
    deferred=("amount",),
    post=_close_value,
)

TEAMS = Kind(
    name="sales_teams",
    table="reps",
    signature=(("sales_agent",), ("manager", "regional_office")),
    columns={"rep_id": ("sales_agent",), "manager": ("manager",), "team": ("regional_office",)},
)

ACCOUNTS = Kind(
    name="accounts",
    table="accounts",
    signature=(("account",), ("sector", "revenue", "employees")),
    columns={"account_id": ("account",), "name": ("account",), "segment": ("sector",),
             "employees": ("employees",), "annual_revenue": ("revenue",)},
    extras={"year_established": ("year_established",), "office_location": ("office_location",),
            "subsidiary_of": ("subsidiary_of",)},
    post=_revenue,
)

#: products.csv is no canonical table: its prices become extra columns of the deals
PRODUCTS = Kind(
    name="products",
    table="",
    signature=(("product",), ("sales_price",)),
    columns={},
)


def product_key(name: pd.Series) -> pd.Series:
    """The join key of a product name: lower case letters and digits only.

    >>> product_key(pd.Series(["GTXPro", "GTX Pro", "MG-Special"])).tolist()
    ['gtxpro', 'gtxpro', 'mgspecial']
    """
    return name.str.casefold().str.replace(r"[^0-9a-z]+", "", regex=True)


def _finish(parts: dict[str, list[pd.DataFrame]], ctx: Context) -> None:
    frames = parts.get("opportunities")
    if not frames:
        return
    opps = pd.concat(frames, ignore_index=True)
    file = str(opps[SOURCE_FILE].iloc[0]) if len(opps) else "sales_pipeline.csv"
    products = ctx.side.get("products")
    price = pd.Series(np.nan, index=opps.index, dtype="float64")
    if products is not None:
        pf = products.frame
        prices, _ = parse_amounts(pf["sales_price"], where=Where(products.name, "sales_price"),
                                  rows=products.rows)
        table = pd.DataFrame({"product_list_name": pf["product"],
                              "product_series": pf["series"] if "series" in pf.columns else pd.NA,
                              "product_sales_price": prices.to_numpy(),
                              "_key": product_key(pf["product"])}).drop_duplicates("_key")
        keys = product_key(opps["product"].astype("str"))
        joined = pd.DataFrame({"_key": keys}).merge(table, on="_key", how="left")
        joined.index = opps.index
        for col in ("product_list_name", "product_series", "product_sales_price"):
            opps[col] = joined[col]
        price = opps["product_sales_price"]
        missing = opps["product"].notna() & price.isna()
        if missing.any():
            names = ", ".join(sorted(set(opps.loc[missing, "product"].astype("str")))[:5])
            ctx.note("warning", f"{file}: {int(missing.sum())} deal(s) have a product not in "
                     f"{products.name} ({names}): no list price for them", file=file)
        renamed = opps["product"].notna() & opps["product_list_name"].notna() & (
            opps["product"] != opps["product_list_name"])
        if renamed.any():
            pairs = sorted({f"{a!r} = {b!r}" for a, b in zip(
                opps.loc[renamed, "product"], opps.loc[renamed, "product_list_name"], strict=True)})
            ctx.note("info", f"{file}: product names spelled differently in the two files were "
                     f"matched ignoring spaces and case: {', '.join(pairs)}", file=file)
    else:
        ctx.note("warning", "products.csv was not given: open and lost deals have no expected "
                 "value (amount) and are not imported; add products.csv to the files")
    won = (opps["stage"] == "Won").to_numpy()
    close_value = opps["close_value"] if "close_value" in opps.columns else pd.Series(
        np.nan, index=opps.index)
    opps["amount"] = np.where(won, close_value, price)
    opps["amount_basis"] = np.where(won, "close_value", "list_price")
    opps.loc[opps["amount"].isna(), "amount_basis"] = np.nan
    # created_at: the engage date, else the earliest other date known (the close date)
    if "close_date" in opps.columns:
        opps["created_at"] = opps["created_at"].fillna(opps["close_date"])
    undated = opps["created_at"].isna().to_numpy()
    if undated.any():
        stages = opps.loc[undated, "stage"].value_counts()
        what = ", ".join(f"{n:,} {s}" for s, n in stages.items())
        rows = [int(r) for r in opps.loc[undated, SOURCE_ROW].head(5)]
        ctx.note("warning", f"{file}: {int(undated.sum()):,} deal(s) ({what}) have neither an "
                 "engage_date nor a close_date; with no date known they are not imported "
                 f"(kpikit needs created_at); e.g. rows {', '.join(map(str, rows))}", file=file,
                 count=int(undated.sum()), rows=rows)
        opps = opps[~undated].reset_index(drop=True)
    # stage history: what the dates record, nothing more
    engage = opps["engage_date"].notna() if "engage_date" in opps.columns else pd.Series(
        False, index=opps.index)
    engaged = opps.loc[engage.to_numpy(), ["opportunity_id", SOURCE_FILE, SOURCE_ROW]].assign(
        stage="Engaging", entered_at=opps.loc[engage.to_numpy(), "created_at"])
    closed_mask = opps["stage"].isin(["Won", "Lost"]) & opps["close_date"].notna()
    closed = opps.loc[closed_mask, ["opportunity_id", "stage", "close_date", SOURCE_FILE,
                                    SOURCE_ROW]].rename(columns={"close_date": "entered_at"})
    hist = pd.concat([engaged, closed], ignore_index=True)
    hist = hist.sort_values([SOURCE_ROW, "entered_at"], kind="stable").reset_index(drop=True)
    parts["stage_history"] = [hist[["opportunity_id", "stage", "entered_at", SOURCE_FILE,
                                    SOURCE_ROW]]]
    parts["opportunities"] = [opps.drop(columns=["engage_date"], errors="ignore")]


SOURCE = Source(
    name="maven",
    description="Maven Analytics CRM Sales Opportunities: sales_pipeline.csv, sales_teams.csv, "
    "accounts.csv, products.csv",
    kinds=(PIPELINE, TEAMS, ACCOUNTS, PRODUCTS),
    stages=STAGES,
    currency="USD",
    finish=_finish,
    lacks=("activities", "leads", "quotas", "customers", "costs"),
)
