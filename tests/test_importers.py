"""CRM importers (issue 7): HubSpot, Salesforce, Pipedrive, maven and generic exports.

Every export below is a small file written by the test with the headers the CRM
really writes (HubSpot's "Deal Stage" / "Deal owner", Salesforce's report
labels and footer, Pipedrive's "Deal - Value") and the quirks real exports have:
byte-order marks, "$1,234.50", owner names instead of ids, blank trailing rows,
semicolons, Windows-1252 text, localised stage names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpikit.errors import KpikitError
from kpikit.importers import ImportDataError, MappingError, import_crm
from kpikit.importers.common import Where, parse_amounts, parse_dates, read_export

AS_OF = "2024-06-01"
MAVEN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "maven_crm"


def write(folder: Path, name: str, text: str, *, encoding: str = "utf-8", bom: bool = False) -> Path:
    p = folder / name
    data = text.encode(encoding)
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return p


def read(out: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{table}.csv", dtype=str, keep_default_na=False, na_values=[""])


HUBSPOT_DEALS = (
    "Record ID,Deal Name,Deal Stage,Amount,Create Date,Close Date,Deal owner,Pipeline,"
    'Date entered "Appointment Scheduled (Sales Pipeline)",Date entered "Closed Won (Sales Pipeline)"\r\n'
    '101,Acme,closedwon,"$1,234.50",2024-01-15 09:32,2024-02-01,Ann Lee,Sales Pipeline,'
    "2024-01-15 09:32,2024-02-01 10:00\r\n"
    '102,Beta,Appointment Scheduled (Sales Pipeline),$500,2024-01-20 10:00,2024-07-01,Bob Stone,'
    "Sales Pipeline,2024-01-20 10:00,\r\n"
    '103,Gamma,Closed Lost,"$2,000.00",2024-01-22 11:00,2024-02-10,Ann Lee,Sales Pipeline,,\r\n'
    ",,,,,,,,,\r\n\r\n"
)


# -- HubSpot ------------------------------------------------------------------------------------


def test_hubspot_deals_map_owner_names_amounts_stages_and_stage_history(tmp_path):
    deals = write(tmp_path, "hubspot-crm-exports-all-deals.csv", HUBSPOT_DEALS, bom=True)
    res = import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    assert res.ok, res.report.format_errors()
    reps = read(tmp_path / "out", "reps")
    # owner names become stable ids, the name is kept; first seen in row 2 and row 3
    assert reps[["rep_id", "name", "_source_row"]].values.tolist() == [
        ["ann-lee", "Ann Lee", "2"], ["bob-stone", "Bob Stone", "3"]]
    opps = res.dataset.opportunities.set_index("opportunity_id")
    # "$1,234.50" -> 1234.5; the internal name, the label with the pipeline and the plain
    # label all map onto the default pipeline's labels; the two blank rows at the end are dropped
    assert opps["amount"].to_dict() == {"101": 1234.5, "102": 500.0, "103": 2000.0}
    assert opps["stage"].to_dict() == {"101": "Closed Won", "102": "Appointment Scheduled",
                                       "103": "Closed Lost"}
    assert opps["status"].to_dict() == {"101": "won", "102": "open", "103": "lost"}
    assert opps.loc["101", "created_at"] == pd.Timestamp("2024-01-15 09:32")
    # Date entered columns: three non-empty cells -> three stage entries
    hist = res.dataset.stage_history
    assert sorted(zip(hist["opportunity_id"], hist["stage"], strict=True)) == [
        ("101", "Appointment Scheduled"), ("101", "Closed Won"), ("102", "Appointment Scheduled")]
    assert res.currency == "USD"


def test_hubspot_dataset_toml_holds_the_default_pipeline_and_funnel_steps(tmp_path):
    deals = write(tmp_path, "deals.csv", HUBSPOT_DEALS)
    res = import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    cfg = res.dataset.config.stages
    assert cfg.order == ("Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
                         "Decision Maker Bought-In", "Contract Sent")
    assert (cfg.won, cfg.lost) == (("Closed Won",), ("Closed Lost",))
    assert (cfg.sql, cfg.meeting, cfg.proposal) == (
        "Qualified To Buy", "Presentation Scheduled", "Contract Sent")


def test_hubspot_localised_stage_names_are_mapped_through_the_mapping_file(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Close Date,Deal owner\n"
                  "1,Abgeschlossen und gewonnen,100,2024-01-02,2024-01-30,Ann Lee\n"
                  "2,Termin vereinbart,200,2024-01-03,2024-03-01,Ann Lee\n")
    mapping = write(tmp_path, "map.toml",
                    "[tables.opportunities.values.stage]\n"
                    '"Abgeschlossen und gewonnen" = "Closed Won"\n'
                    '"Termin vereinbart" = "appointmentscheduled"\n')
    res = import_crm("hubspot", [deals], tmp_path / "out", mapping=mapping, as_of=AS_OF)
    assert res.dataset.opportunities["stage"].tolist() == ["Closed Won", "Appointment Scheduled"]


def test_unknown_stage_is_an_error_listing_the_values_the_known_stages_and_how_to_map(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Deal owner\n"
                  "1,Gewonnen,100,2024-01-02,Ann Lee\n2,Gewonnen,100,2024-01-02,Ann Lee\n"
                  "3,closedwon,100,2024-01-02,Ann Lee\n")
    with pytest.raises(ImportDataError) as exc:
        import_crm("hubspot", [deals], tmp_path / "out")
    msg = str(exc.value)
    assert "'Gewonnen' (2 row(s), first row 2)" in msg
    assert "Known stages: Appointment Scheduled" in msg and "Closed Lost" in msg
    assert "--map" in msg and "[tables.opportunities.values.stage]" in msg
    assert not (tmp_path / "out").exists()  # nothing written


def test_hubspot_calls_and_meetings_become_activities(tmp_path):
    deals = write(tmp_path, "deals.csv", HUBSPOT_DEALS)
    calls = write(tmp_path, "calls.csv",
                  "Record ID,Call Title,Activity date,Activity assigned to,Call outcome,"
                  "Call direction,Call duration\n"
                  "1,Intro,2024-01-16 10:00,Ann Lee,Connected,OUTBOUND,300000\n"
                  "2,Follow,2024-01-17 10:00,Carl Ho,No answer,INBOUND,\n")
    meetings = write(tmp_path, "meetings.csv",
                     "Record ID,Meeting name,Activity date,Activity assigned to,Meeting outcome\n"
                     "1,Demo,2024-01-18 14:00,Bob Stone,Completed\n")
    res = import_crm("hubspot", [deals, calls, meetings], tmp_path / "out", as_of=AS_OF)
    acts = res.dataset.activities.set_index("activity_id")
    # ids are prefixed per engagement type: call 1 and meeting 1 are different records
    assert sorted(acts.index) == ["call-1", "call-2", "meeting-1"]
    assert acts.loc["call-1", ["type", "outcome", "direction"]].tolist() == [
        "call", "connected", "outbound"]
    assert acts.loc["call-2", ["outcome", "direction"]].tolist() == ["no_answer", "inbound"]
    assert acts.loc["call-1", "duration_min"] == 5.0  # 300,000 ms
    assert acts.loc["meeting-1", ["type", "outcome", "rep_id"]].tolist() == [
        "meeting", "held", "bob-stone"]
    # Carl Ho only appears in the calls export: he still is a rep
    assert "carl-ho" in set(res.dataset.reps["rep_id"])


def test_hubspot_contacts_become_leads_with_qualification_dates(tmp_path):
    deals = write(tmp_path, "deals.csv", HUBSPOT_DEALS)
    contacts = write(tmp_path, "contacts.csv",
                     "Record ID,First Name,Last Name,Email,Contact owner,Create Date,"
                     "Original Source,Became a Sales Qualified Lead Date,Associated Deal IDs\n"
                     "7,Ada,L,ada@x.com,Ann Lee,2024-01-02 08:00,Organic Search,"
                     "2024-01-10 09:00,101\n"
                     "8,Bo,K,bo@x.com,Bob Stone,2024-01-03 08:00,Paid Search,,101;102\n")
    res = import_crm("hubspot", [deals, contacts], tmp_path / "out", as_of=AS_OF)
    leads = res.dataset.leads.set_index("lead_id")
    assert leads.loc["7", ["rep_id", "source"]].tolist() == ["ann-lee", "Organic Search"]
    assert leads.loc["7", "qualified_at"] == pd.Timestamp("2024-01-10 09:00")
    assert pd.isna(leads.loc["8", "qualified_at"])
    # one associated deal is the lead's opportunity; several cannot be told apart
    assert leads.loc["7", "opportunity_id"] == "101" and pd.isna(leads.loc["8", "opportunity_id"])


# -- Salesforce ---------------------------------------------------------------------------------

SF_OPPS = (
    '"Opportunity Owner","Account Name","Opportunity Name","Opportunity ID","Stage","Amount",'
    '"Close Date","Created Date","Lead Source"\n'
    '"Jane Roe","Acme","Acme - 40 seats","0061","Closed Won","USD 12,400.00","3/15/2017",'
    '"1/20/2017","Web"\n'
    '"Jane Roe","Beta","Beta deal","0062","Negotiation/Review","USD 5,000.00","4/30/2017",'
    '"2/1/2017","Partner"\n'
    '"Jim Poe","Gamma","Gamma deal","0063","Closed Lost","USD 800.00","2/28/2017","1/5/2017",""\n'
    "\n"
    '"Grand Totals (3 records)"\n'
    "\n"
    '"Confidential Information - Do Not Distribute"\n'
    '"Copyright (c) 2000-2017 salesforce.com, inc. All rights reserved."\n'
)
SF_HISTORY = (
    "Opportunity ID,Opportunity Name,From Stage,To Stage,Amount,Edit Date\n"
    '0061,Acme - 40 seats,,Prospecting,"12,400.00",1/20/2017\n'
    '0061,Acme - 40 seats,Prospecting,Qualification,"12,400.00",1/25/2017\n'
    '0061,Acme - 40 seats,Qualification,Qualification,"13,000.00",1/28/2017\n'
    '0061,Acme - 40 seats,Qualification,Closed Won,"12,400.00",3/15/2017\n'
    "0063,Gamma deal,,Prospecting,800.00,1/5/2017\n"
    "0063,Gamma deal,Prospecting,Closed Lost,800.00,2/28/2017\n"
)


def test_salesforce_report_with_footer_us_dates_and_currency_codes(tmp_path):
    opps = write(tmp_path, "opportunities.csv", SF_OPPS)
    res = import_crm("salesforce", [opps], tmp_path / "out", as_of="2017-06-01")
    assert res.ok, res.report.format_errors()
    o = res.dataset.opportunities.set_index("opportunity_id")
    # the three footer lines are not deals; ids keep their leading zeros
    assert list(o.index) == ["0061", "0062", "0063"]
    assert o["amount"].tolist() == [12400.0, 5000.0, 800.0]
    # 3/15/2017 settles MM/DD/YYYY
    assert o.loc["0061", "close_date"] == pd.Timestamp("2017-03-15")
    assert o.loc["0062", "created_at"] == pd.Timestamp("2017-02-01")
    assert res.currency == "USD"
    assert any("footer" in n.message for n in res.notes)


def test_salesforce_opportunity_history_keeps_stage_changes_only(tmp_path):
    opps = write(tmp_path, "opportunities.csv", SF_OPPS)
    hist = write(tmp_path, "opportunity_history.csv", SF_HISTORY)
    res = import_crm("salesforce", [opps, hist], tmp_path / "out", as_of="2017-06-01")
    h = res.dataset.stage_history
    # 6 history rows, one of them an amount change within Qualification: 5 stage entries
    assert list(zip(h["opportunity_id"], h["stage"], strict=True)) == [
        ("0061", "Prospecting"), ("0061", "Qualification"), ("0061", "Closed Won"),
        ("0063", "Prospecting"), ("0063", "Closed Lost")]


def test_salesforce_tasks_report_keeps_completed_activities(tmp_path):
    opps = write(tmp_path, "opportunities.csv", SF_OPPS)
    tasks = write(tmp_path, "tasks.csv",
                  "Activity ID,Assigned,Subject,Type,Date,Status,Call Type,Call Result,"
                  "Call Duration,Opportunity ID\n"
                  "T1,Jane Roe,Call Acme,Call,1/21/2017,Completed,Outbound,Connected,420,0061\n"
                  "T2,Jane Roe,Email Beta,Email,2/2/2017,Completed,,,,0062\n"
                  "T3,Jim Poe,Call Gamma,Call,1/6/2017,Not Started,Outbound,,,0063\n")
    res = import_crm("salesforce", [opps, tasks], tmp_path / "out", as_of="2017-06-01")
    acts = res.dataset.activities.set_index("activity_id")
    assert list(acts.index) == ["T1", "T2"]  # T3 has not happened yet
    assert acts.loc["T1", ["type", "direction", "outcome", "opportunity_id"]].tolist() == [
        "call", "outbound", "connected", "0061"]
    assert acts.loc["T1", "duration_min"] == 7.0  # 420 seconds


def test_salesforce_leads_report_converted_date_is_the_qualification(tmp_path):
    opps = write(tmp_path, "opportunities.csv", SF_OPPS)
    leads = write(tmp_path, "leads.csv",
                  "Lead Owner,Lead ID,Company / Account,Lead Source,Lead Status,Create Date,"
                  "Converted Date,Converted Opportunity ID\n"
                  "Jane Roe,00Q1,Acme,Web,Qualified,1/2/2017,1/20/2017,0061\n"
                  "Jim Poe,00Q2,Zeta,Event,Working,1/13/2017,,\n")
    res = import_crm("salesforce", [opps, leads], tmp_path / "out", as_of="2017-06-01")
    ld = res.dataset.leads.set_index("lead_id")
    assert ld.loc["00Q1", "qualified_at"] == pd.Timestamp("2017-01-20")
    assert ld.loc["00Q1", "opportunity_id"] == "0061"
    assert ld.loc["00Q2", "created_at"] == pd.Timestamp("2017-01-13")


# -- Pipedrive ----------------------------------------------------------------------------------

PD_DEALS = (
    "Deal - ID;Deal - Title;Deal - Value;Deal - Currency;Deal - Stage;Deal - Status;Deal - Owner;"
    "Deal - Organization;Deal - Deal created;Deal - Expected close date;Deal - Won time;"
    "Deal - Lost time;Deal - Lost reason\n"
    "11;Alpha;1.234,50;EUR;Proposal Made;Won;Jürgen Groß;Alpha GmbH;03.01.2024 09:15;31.01.2024;"
    "25.01.2024 16:00;;\n"
    "12;Beta;500;EUR;Qualified;Open;Jürgen Groß;Beta AG;15.01.2024 10:00;29.02.2024;;;\n"
    "13;Gamma;2.000;EUR;Contact Made;Lost;Eva Klein;;20.01.2024 11:00;28.02.2024;;"
    "13.02.2024 12:00;Price\n"
    "14;Delta;100;EUR;Qualified;Deleted;Eva Klein;;21.01.2024 11:00;;;;\n"
)


def test_pipedrive_status_decides_won_and_lost_and_their_close_dates(tmp_path):
    deals = write(tmp_path, "deals.csv", PD_DEALS)
    res = import_crm("pipedrive", [deals], tmp_path / "out", as_of="2024-03-01")
    assert res.ok, res.report.format_errors()
    o = res.dataset.opportunities.set_index("opportunity_id")
    # the deleted deal 14 is not imported; semicolons and "1.234,50" are read
    assert list(o.index) == ["11", "12", "13"]
    assert o["amount"].tolist() == [1234.5, 500.0, 2000.0]
    assert o["stage"].tolist() == ["Won", "Qualified", "Lost"]
    assert o["pipeline_stage"].tolist() == ["Proposal Made", "Qualified", "Contact Made"]
    # won/lost time for closed deals, the expected close date for the open one (DD.MM.YYYY)
    assert o["close_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-25", "2024-02-29", "2024-02-13"]
    assert res.currency == "EUR"
    assert set(res.dataset.reps["rep_id"]) == {"jurgen-gross", "eva-klein"}
    assert "Jürgen Groß" in set(res.dataset.reps["name"])


def test_pipedrive_activities_not_done_are_not_imported(tmp_path):
    deals = write(tmp_path, "deals.csv", PD_DEALS)
    acts = write(tmp_path, "activities.csv",
                 "Activity - ID;Activity - Subject;Activity - Type;Activity - Due date;"
                 "Activity - Due time;Activity - Done;Activity - Assigned to user;"
                 "Activity - Duration;Activity - Deal ID\n"
                 "501;Erstgespräch;Call;04.01.2024;10:30;Done;Jürgen Groß;00:15;11\n"
                 "502;Demo;Meeting;10.01.2024;14:00;Done;Jürgen Groß;01:00;11\n"
                 "503;Nachfassen;Call;30.06.2024;09:00;To do;Eva Klein;;13\n")
    res = import_crm("pipedrive", [deals, acts], tmp_path / "out", as_of="2024-03-01")
    a = res.dataset.activities.set_index("activity_id")
    assert list(a.index) == ["501", "502"]
    assert a["type"].tolist() == ["call", "meeting"]
    assert a["duration_min"].tolist() == [15.0, 60.0]
    assert a.loc["501", "occurred_at"] == pd.Timestamp("2024-01-04 10:30")


# -- generic ------------------------------------------------------------------------------------

GENERIC_MAP = """
currency = "EUR"
date_format = "%d/%m/%Y"
[stages]
order = ["Neu", "Angebot"]
won = ["Gewonnen"]
lost = ["Verloren"]
proposal = "Angebot"
[tables.opportunities]
file = "crm.csv"
[tables.opportunities.columns]
opportunity_id = "Nr"
rep_id = "Betreuer"
created_at = "Angelegt"
stage = "Phase"
amount = "Betrag"
[tables.opportunities.values.stage]
"Auftrag" = "Gewonnen"
"""


def test_generic_mapping_imports_any_crm(tmp_path):
    crm = write(tmp_path, "crm.csv",
                "Nr,Betreuer,Angelegt,Phase,Betrag\n"
                'A1,Ute Berg,03/02/2024,Auftrag,"1.500,00"\n'
                'A2,Ute Berg,04/02/2024,Angebot,"250,50"\n')
    mapping = write(tmp_path, "map.toml", GENERIC_MAP)
    res = import_crm("generic", [crm], tmp_path / "out", mapping=mapping, as_of=AS_OF)
    assert res.ok, res.report.format_errors()
    o = res.dataset.opportunities
    assert o["stage"].tolist() == ["Gewonnen", "Angebot"]
    assert o["status"].tolist() == ["won", "open"]
    assert o["amount"].tolist() == [1500.0, 250.5]
    assert o["created_at"].tolist() == [pd.Timestamp("2024-02-03"), pd.Timestamp("2024-02-04")]
    assert res.currency == "EUR" and res.dataset.config.currency == "EUR"
    assert res.dataset.config.stages.proposal == "Angebot"


def test_generic_mapping_needs_a_mapping_file(tmp_path):
    crm = write(tmp_path, "crm.csv", "a\n1\n")
    with pytest.raises(MappingError, match="needs a mapping file"):
        import_crm("generic", [crm], tmp_path / "out")


def test_mapping_with_an_unknown_canonical_column_is_refused(tmp_path):
    crm = write(tmp_path, "crm.csv", "Nr\n1\n")
    mapping = write(tmp_path, "map.toml", '[tables.opportunities]\nfile = "crm.csv"\n'
                    '[tables.opportunities.columns]\ndeal_value = "Betrag"\n')
    with pytest.raises(MappingError) as exc:
        import_crm("generic", [crm], tmp_path / "out", mapping=mapping)
    assert "'deal_value' is not a canonical column of opportunities" in str(exc.value)
    assert "amount" in str(exc.value)  # the known columns are listed


def test_mapping_naming_a_file_not_given_is_refused(tmp_path):
    crm = write(tmp_path, "crm.csv", "Nr\n1\n")
    mapping = write(tmp_path, "map.toml", '[tables.opportunities]\nfile = "deals.csv"\n')
    with pytest.raises(MappingError, match=r"names the file 'deals.csv'.*not among the files"):
        import_crm("generic", [crm], tmp_path / "out", mapping=mapping)


def test_mapping_column_not_in_the_file_names_the_file_and_its_columns(tmp_path):
    crm = write(tmp_path, "crm.csv", "Nr,Betreuer\n1,Ute\n")
    mapping = write(tmp_path, "map.toml", '[tables.opportunities]\nfile = "crm.csv"\n'
                    '[tables.opportunities.columns]\namount = "Betrag"\n')
    with pytest.raises(MappingError) as exc:
        import_crm("generic", [crm], tmp_path / "out", mapping=mapping)
    assert "'Betrag'" in str(exc.value) and "crm.csv" in str(exc.value)
    assert "its columns are: Nr, Betreuer" in str(exc.value)


# -- malformed exports --------------------------------------------------------------------------


def test_missing_required_column_names_the_file_and_the_columns_it_has(tmp_path):
    deals = write(tmp_path, "deals.csv", "Record ID,Deal Stage,Deal owner\n1,closedwon,Ann\n")
    with pytest.raises(ImportDataError) as exc:
        import_crm("hubspot", [deals], tmp_path / "out")
    msg = str(exc.value)
    assert "deals.csv" in msg and "created_at (one of: 'Create Date'" in msg
    assert "amount" in msg and "The file's columns are: Record ID, Deal Stage, Deal owner" in msg


def test_bad_dates_are_an_error_listing_rows_and_values(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Deal owner\n"
                  "1,closedwon,10,2024-01-05,Ann\n2,closedwon,10,not a date,Ann\n"
                  "3,closedwon,10,2024-13-45,Ann\n")
    with pytest.raises(ImportDataError) as exc:
        import_crm("hubspot", [deals], tmp_path / "out")
    msg = str(exc.value)
    assert "column 'Create Date'" in msg and "row 3 'not a date'" in msg
    assert "date_format" in msg


def test_ambiguous_day_month_is_refused_with_how_to_give_the_format(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Deal owner\n"
                  "1,closedwon,10,03/04/2024,Ann\n2,closedwon,10,05/06/2024,Ann\n")
    with pytest.raises(ImportDataError) as exc:
        import_crm("hubspot", [deals], tmp_path / "out")
    msg = str(exc.value)
    assert "MM/DD/YYYY" in msg and "DD/MM/YYYY" in msg and 'date_format = "%m/%d/%Y"' in msg


def test_ambiguous_day_month_follows_another_date_column_of_the_same_file(tmp_path):
    # Close Date has a day above 12 (DD/MM); Create Date alone could be either
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Close Date,Deal owner\n"
                  "1,closedwon,10,03/04/2024,25/04/2024,Ann\n")
    res = import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    o = res.dataset.opportunities
    assert o.loc[0, "created_at"] == pd.Timestamp("2024-04-03")


def test_date_format_in_the_mapping_file_settles_day_and_month(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Deal owner\n1,closedwon,10,03/04/2024,Ann\n")
    mapping = write(tmp_path, "map.toml", 'date_format = "%m/%d/%Y"\n')
    res = import_crm("hubspot", [deals], tmp_path / "out", mapping=mapping, as_of=AS_OF)
    assert res.dataset.opportunities.loc[0, "created_at"] == pd.Timestamp("2024-03-04")


def test_windows_1252_export_is_decoded_with_a_warning(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Deal owner\n"
                  "1,closedwon,€ 10,2024-01-05,José Núñez\n", encoding="cp1252")
    res = import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    assert res.dataset.reps["name"].tolist() == ["José Núñez"]
    assert res.dataset.reps["rep_id"].tolist() == ["jose-nunez"]
    assert any(n.severity == "warning" and "Windows-1252" in n.message for n in res.notes)
    assert res.currency == "EUR"


def test_semicolon_delimiter_is_detected_and_reported(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID;Deal Stage;Amount;Create Date;Deal owner\n1;closedwon;7,5;2024-01-05;Ann\n")
    res = import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    assert res.dataset.opportunities.loc[0, "amount"] == 7.5
    assert any("semicolons" in n.message for n in res.notes)


def test_row_with_more_values_than_header_columns_is_a_clear_error(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Deal owner\n"
                  "1,closedwon,1,234,2024-01-05,Ann\n")
    with pytest.raises(ImportDataError, match=r"deals.csv.*line 2.*quote values"):
        import_crm("hubspot", [deals], tmp_path / "out")


def test_unrecognised_file_lists_what_the_importer_reads(tmp_path):
    odd = write(tmp_path, "odd.csv", "foo,bar\n1,2\n")
    with pytest.raises(ImportDataError) as exc:
        import_crm("hubspot", [odd], tmp_path / "out")
    assert "not recognised as a hubspot export" in str(exc.value)
    assert "deals (with 'Deal Stage'" in str(exc.value)


def test_several_currencies_are_refused(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Deal owner\n"
                  "1,closedwon,$10,2024-01-05,Ann\n2,closedwon,10 €,2024-01-05,Ann\n")
    with pytest.raises(ImportDataError, match="several currencies"):
        import_crm("hubspot", [deals], tmp_path / "out")


def test_rows_without_an_owner_are_not_imported_and_counted(tmp_path):
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Deal owner\n"
                  "1,closedwon,10,2024-01-05,Ann\n2,closedwon,10,2024-01-05,\n")
    res = import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    assert res.rows["opportunities"] == 1
    note = next(n for n in res.notes if n.count == 1 and n.rows == [3])
    assert "rep_id (1)" in note.message


def test_excel_export_with_serial_dates(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Record ID", "Deal Stage", "Amount", "Create Date", "Close Date", "Deal owner"])
    # 42795 is Excel's serial number of 2017-03-01; the Close Date cells are real dates
    from datetime import datetime

    ws.append([1, "closedwon", 1234.5, 42795, datetime(2017, 3, 20), "Ann Lee"])
    ws.append([2, "closedlost", 99, 42796, datetime(2017, 3, 21), "Ann Lee"])
    wb.save(tmp_path / "deals.xlsx")
    res = import_crm("hubspot", [tmp_path / "deals.xlsx"], tmp_path / "out", as_of=AS_OF)
    o = res.dataset.opportunities
    assert o["created_at"].tolist() == [pd.Timestamp("2017-03-01"), pd.Timestamp("2017-03-02")]
    assert o["close_date"].tolist() == [pd.Timestamp("2017-03-20"), pd.Timestamp("2017-03-21")]
    assert o["amount"].tolist() == [1234.5, 99.0]


# -- provenance, output folder, inputs -----------------------------------------------------------


def test_validation_error_points_back_to_the_export_file_and_row(tmp_path):
    # deal 2 closes before it was created; a blank row before it still counts as a row,
    # as in a spreadsheet: the deal is row 4 of the export
    deals = write(tmp_path, "deals.csv",
                  "Record ID,Deal Stage,Amount,Create Date,Close Date,Deal owner\n"
                  "1,closedwon,10,2024-01-05,2024-01-20,Ann\n"
                  ",,,,,\n"
                  "2,closedwon,10,2024-02-05,2024-01-20,Ann\n")
    res = import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    assert not res.ok and res.dataset is None
    err = next(p for p in res.report.errors if p.code == "closed_before_created")
    assert (err.file, err.row, err.column) == (str(deals), 4, "close_date")
    assert f"{deals}, row 4, column close_date" in err.format()


def test_out_holding_a_dataset_is_refused_unless_overwrite(tmp_path):
    deals = write(tmp_path, "deals.csv", HUBSPOT_DEALS)
    import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    with pytest.raises(KpikitError, match="already holds a dataset.*--overwrite"):
        import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    res = import_crm("hubspot", [deals], tmp_path / "out", overwrite=True, as_of=AS_OF)
    assert res.ok


def test_input_files_are_never_modified(tmp_path):
    deals = write(tmp_path, "deals.csv", HUBSPOT_DEALS, bom=True)
    before = hashlib.sha256(deals.read_bytes()).hexdigest()
    import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    assert hashlib.sha256(deals.read_bytes()).hexdigest() == before


def test_an_export_named_like_a_table_in_out_is_not_overwritten(tmp_path):
    deals = write(tmp_path, "opportunities.csv", HUBSPOT_DEALS)
    with pytest.raises(KpikitError, match="holds the input file opportunities.csv"):
        import_crm("hubspot", [deals], tmp_path, overwrite=True)


def test_unknown_source_lists_the_sources(tmp_path):
    with pytest.raises(KpikitError, match="unknown source 'zoho'.*generic, hubspot, maven"):
        import_crm("zoho", [tmp_path / "x.csv"], tmp_path / "out")


def test_what_the_export_lacks_is_reported_per_metric(tmp_path):
    deals = write(tmp_path, "deals.csv", HUBSPOT_DEALS)
    res = import_crm("hubspot", [deals], tmp_path / "out", as_of=AS_OF)
    assert res.unavailable["calls_made"] == "needs activities"
    assert res.unavailable["quota_attainment"].startswith("needs quotas")
    assert "win_rate" not in res.unavailable
    assert "Metrics not available in this export" in res.render()


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("$1,234.50", 1234.5), ("1.234,50 €", 1234.5), ("USD 1,234", 1234.0), ("(500)", -500.0),
     ("1 234,5", 1234.5), ("1.234", 1234.0), ("12", 12.0), ("£0.99", 0.99), ("-7,25", -7.25)],
)
def test_amount_formats(text, value):
    vals, _ = parse_amounts(pd.Series([text]), where=Where("f.csv", "Amount"), rows=np.array([2]))
    assert vals.iloc[0] == pytest.approx(value)


def test_amounts_mixing_decimal_marks_are_refused():
    with pytest.raises(ImportDataError, match="both '.'.*and ','.*decimal"):
        parse_amounts(pd.Series(["1.5", "2,75"]), where=Where("f.csv", "Amount"),
                      rows=np.array([2, 3]))


@pytest.mark.parametrize(
    ("values", "first"),
    [(["2017-03-01 10:00", "2017-03-02"], "2017-03-01 10:00"),
     (["01.02.2017", "28.02.2017"], "2017-02-01"),
     (["3/1/2017 10:00 AM", "12/31/2017"], "2017-03-01 10:00"),
     (["Mar 1, 2017"], "2017-03-01"),
     (["2017-03-01T10:00:00Z"], "2017-03-01 10:00")],
)
def test_date_formats(values, first):
    p = parse_dates(pd.Series(values), where=Where("f.csv", "Date"), rows=np.arange(len(values)) + 2)
    assert p.values.iloc[0] == pd.Timestamp(first)


def test_blank_rows_and_bom_are_dropped_but_rows_keep_their_numbers(tmp_path):
    f = write(tmp_path, "x.csv", "A,B\n1,2\n\n,\n3,4\n\n", bom=True)
    ex = read_export(f)
    assert ex.headers == ["A", "B"]
    assert ex.frame["A"].tolist() == ["1", "3"] and ex.rows.tolist() == [2, 5]


# -- maven: the real public dataset -----------------------------------------------------------


@pytest.fixture(scope="module")
def maven_import(tmp_path_factory):
    if not (MAVEN / "sales_pipeline.csv").exists():
        pytest.skip(f"the maven CRM sample is not at {MAVEN} (shared/datasets/maven_crm)")
    out = tmp_path_factory.mktemp("maven") / "out"
    files = sorted(MAVEN.glob("*.csv"))
    return import_crm("maven", files, out, as_of="2018-01-01")


@pytest.fixture(scope="module")
def maven_raw():
    if not (MAVEN / "sales_pipeline.csv").exists():
        pytest.skip(f"the maven CRM sample is not at {MAVEN} (shared/datasets/maven_crm)")
    return {name: pd.read_csv(MAVEN / f"{name}.csv") for name in
            ("sales_pipeline", "sales_teams", "accounts", "products")}


def test_maven_import_validates_without_errors(maven_import):
    assert maven_import.ok, maven_import.report.format_errors()
    assert maven_import.report.error_count == 0


def test_maven_reps_are_all_35_agents_with_team_and_manager(maven_import, maven_raw):
    reps = maven_import.dataset.reps
    teams = maven_raw["sales_teams"]
    assert len(reps) == len(teams) == 35
    # five agents without deals are reps too
    with_deals = set(maven_raw["sales_pipeline"]["sales_agent"])
    assert len(set(teams["sales_agent"]) - with_deals) == 5
    row = reps.set_index("name").loc["Moses Frase"]
    expected = teams.set_index("sales_agent").loc["Moses Frase"]
    assert (row["team"], row["manager"]) == (expected["regional_office"], expected["manager"])


def test_maven_counts_match_plain_pandas(maven_import, maven_raw):
    p = maven_raw["sales_pipeline"]
    o = maven_import.dataset.opportunities
    # every deal but the Prospecting ones (no date at all) is imported
    assert len(o) == len(p) - (p["deal_stage"] == "Prospecting").sum() == 8300
    assert (o["status"] == "won").sum() == (p["deal_stage"] == "Won").sum() == 4238
    assert (o["status"] == "lost").sum() == (p["deal_stage"] == "Lost").sum() == 2473
    won_p = p[p["deal_stage"] == "Won"]
    won_o = o[o["status"] == "won"]
    # won revenue per agent
    agents = maven_import.dataset.reps.set_index("rep_id")["name"]
    mine = won_o.groupby(won_o["rep_id"].map(agents))["amount"].sum().sort_index()
    theirs = won_p.groupby("sales_agent")["close_value"].sum().sort_index()
    pd.testing.assert_series_equal(mine, theirs, check_names=False, check_index_type=False)
    assert won_o["amount"].sum() == won_p["close_value"].sum() == 10_005_534
    # win rate and average deal size over all closed deals
    closed = p["deal_stage"].isin(["Won", "Lost"])
    assert (o["status"] == "won").sum() / o["status"].isin(["won", "lost"]).sum() == \
        pytest.approx((p["deal_stage"] == "Won").sum() / closed.sum())  # 0.6315
    assert won_o["amount"].mean() == pytest.approx(won_p["close_value"].mean())  # 2,360.91


def test_maven_open_and_lost_amounts_are_list_prices(maven_import, maven_raw):
    o = maven_import.dataset.opportunities
    prices = maven_raw["products"].assign(
        key=maven_raw["products"]["product"].str.replace(" ", "").str.lower()
    ).set_index("key")["sales_price"]
    not_won = o[o["status"] != "won"]
    expected = not_won["product"].str.replace(" ", "").str.lower().map(prices)
    assert not_won["amount"].tolist() == expected.astype(float).tolist()
    assert set(not_won["amount_basis"]) == {"list_price"}
    # GTXPro in the pipeline matched GTX Pro in products.csv; both names kept
    gtx = o[o["product"] == "GTXPro"]
    assert len(gtx) and set(gtx["product_list_name"]) == {"GTX Pro"}


def test_maven_prospecting_deals_without_dates_are_counted_not_invented(maven_import):
    note = next(n for n in maven_import.notes if n.count == 500)
    assert "500 Prospecting" in note.message and "not imported" in note.message
    assert "Prospecting" not in set(maven_import.dataset.opportunities["stage"])


def test_maven_stage_history_records_engage_and_close_dates_only(maven_import, maven_raw):
    p = maven_raw["sales_pipeline"]
    h = maven_import.dataset.stage_history
    assert (h["stage"] == "Engaging").sum() == p["engage_date"].notna().sum() == 8300
    assert (h["stage"] == "Won").sum() == 4238 and (h["stage"] == "Lost").sum() == 2473
    assert "Prospecting" not in set(h["stage"])


def test_maven_accounts_keep_typos_and_deals_without_account(maven_import, maven_raw):
    acc = maven_import.dataset.accounts
    assert len(acc) == 85 and "technolgy" in set(acc["segment"])
    acme = acc.set_index("account_id").loc["Acme Corporation"]
    assert acme["annual_revenue"] == pytest.approx(1100.04e6)
    o = maven_import.dataset.opportunities
    p = maven_raw["sales_pipeline"]
    no_account = p[p["deal_stage"] != "Prospecting"]["account"].isna().sum()
    assert o["account_id"].isna().sum() == no_account


def test_maven_reports_what_the_sample_lacks(maven_import):
    u = maven_import.unavailable
    assert u["calls_made"] == "needs activities"
    assert u["conv_lead_to_sql"].startswith("needs leads")
    assert u["conv_sql_to_meeting"] == "needs dataset.toml [stages].meeting"
    assert "win_rate" not in u and "avg_deal_size" not in u


# -- more exports -------------------------------------------------------------------------------


def test_mapping_file_says_which_table_a_named_source_file_holds(tmp_path):
    # a stage history report without From/To columns, in a file whose name says nothing
    opps = write(tmp_path, "opportunities.csv", SF_OPPS)
    stages = write(tmp_path, "export2.csv",
                   "Opportunity ID,Stage,Last Modified\n0061,Prospecting,1/20/2017\n"
                   "0061,Closed Won,3/15/2017\n")
    mapping = write(tmp_path, "map.toml", '[tables.stage_history]\nfile = "export2.csv"\n')
    res = import_crm("salesforce", [opps, stages], tmp_path / "out", mapping=mapping,
                     as_of="2017-06-01")
    assert res.files[str(stages)] == "opportunity history export -> stage_history"
    assert res.dataset.stage_history["stage"].tolist() == ["Prospecting", "Closed Won"]


def test_pipedrive_persons_become_leads(tmp_path):
    deals = write(tmp_path, "deals.csv", PD_DEALS)
    persons = write(tmp_path, "persons.csv",
                    "Person - ID,Person - Name,Person - Owner,Person - Person created,"
                    "Person - Organization\n"
                    "900,Anna Fischer,Eva Klein,2024-01-02 09:00:00,Alpha GmbH\n")
    res = import_crm("pipedrive", [deals, persons], tmp_path / "out", as_of="2024-03-01")
    leads = res.dataset.leads
    assert leads[["lead_id", "rep_id"]].values.tolist() == [["900", "eva-klein"]]
    assert leads.loc[0, "created_at"] == pd.Timestamp("2024-01-02 09:00")
