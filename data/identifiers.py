"""Identifier tables: Bloomberg exchange codes, Yahoo suffixes and country names -> ISO-2.

The store's canonical ticker is numerai-style ``"<symbol> <ISO-2 country>"`` ("AAPL US",
"VOD GB", "7203 JP"). These tables are real exchange conventions; they are the one place
the engine keeps them (``metasignal.signals.tickers`` maps submissions with them too).
"""

from __future__ import annotations

import pandas as pd

BLOOMBERG_EXCHANGE_TO_COUNTRY: dict[str, str] = {
    "US": "US", "UN": "US", "UQ": "US", "UW": "US", "UA": "US", "UR": "US", "UP": "US", "UV": "US",
    "LN": "GB", "GY": "DE", "GR": "DE", "GF": "DE", "GD": "DE", "FP": "FR", "NA": "NL", "BB": "BE",
    "IM": "IT", "SQ": "ES", "SM": "ES", "SW": "CH", "SE": "CH", "VX": "CH", "SS": "SE", "DC": "DK",
    "NO": "NO", "FH": "FI", "ID": "IE", "PL": "PT", "AV": "AT", "PW": "PL", "GA": "GR",
    "JP": "JP", "JT": "JP", "HK": "HK", "KS": "KR", "KQ": "KR", "TT": "TW", "TW": "TW", "SP": "SG",
    "AU": "AU", "AT": "AU", "NZ": "NZ", "IN": "IN", "IB": "IN", "IS": "IN", "CN": "CA", "CT": "CA",
    "CH": "CN", "C1": "CN", "C2": "CN", "BZ": "BR", "MM": "MX", "SJ": "ZA", "TB": "TH", "MK": "MY",
    "IJ": "ID", "PM": "PH", "IT": "IL", "TI": "TR", "AB": "SA", "QD": "QA", "UH": "AE",
    "CV": "CA", "CG": "CN", "CS": "CN", "KK": "KW", "EY": "EG", "CI": "CL", "AR": "AR", "CB": "CO",
    "PE": "PE", "RM": "RU", "CP": "CZ", "HB": "HU",
}

YAHOO_SUFFIX_TO_COUNTRY: dict[str, str] = {
    "": "US", "L": "GB", "IL": "GB", "DE": "DE", "F": "DE", "XETRA": "DE", "PA": "FR", "AS": "NL",
    "BR": "BE", "MI": "IT", "MC": "ES", "SW": "CH", "VX": "CH", "ST": "SE", "CO": "DK", "OL": "NO",
    "HE": "FI", "IR": "IE", "LS": "PT", "VI": "AT", "WA": "PL", "AT": "GR", "T": "JP", "HK": "HK",
    "KS": "KR", "KQ": "KR", "TW": "TW", "TWO": "TW", "SI": "SG", "AX": "AU", "NZ": "NZ", "NS": "IN",
    "BO": "IN", "TO": "CA", "V": "CA", "NE": "CA", "SS": "CN", "SZ": "CN", "SA": "BR", "MX": "MX",
    "JO": "ZA", "BK": "TH", "KL": "MY", "JK": "ID", "TA": "IL", "IS": "TR", "SR": "SA", "QA": "QA",
    "BE": "DE", "MU": "DE", "SG": "DE", "DU": "DE", "HM": "DE", "PR": "CZ", "BD": "HU", "ME": "RU",
    "CA": "EG", "KW": "KW", "PS": "PH", "SN": "CL", "BA": "AR", "CL": "CO", "CN": "CA", "LM": "PE",
}

COUNTRY_NAME_TO_ISO: dict[str, str] = {
    "United States": "US", "United Kingdom": "GB", "Germany": "DE", "France": "FR", "Netherlands": "NL",
    "Belgium": "BE", "Italy": "IT", "Spain": "ES", "Switzerland": "CH", "Sweden": "SE", "Denmark": "DK",
    "Norway": "NO", "Finland": "FI", "Ireland": "IE", "Portugal": "PT", "Austria": "AT", "Poland": "PL",
    "Greece": "GR", "Japan": "JP", "Hong Kong": "HK", "South Korea": "KR", "Korea": "KR", "Taiwan": "TW",
    "Singapore": "SG", "Australia": "AU", "New Zealand": "NZ", "India": "IN", "Canada": "CA",
    "China": "CN", "Brazil": "BR", "Mexico": "MX", "South Africa": "ZA", "Thailand": "TH",
    "Malaysia": "MY", "Indonesia": "ID", "Philippines": "PH", "Israel": "IL", "Turkey": "TR",
    "Saudi Arabia": "SA", "Qatar": "QA", "United Arab Emirates": "AE", "Luxembourg": "LU",
    "Bermuda": "BM", "Cayman Islands": "KY", "Jersey": "JE", "Guernsey": "GG", "Egypt": "EG",
    "Chile": "CL", "Argentina": "AR", "Colombia": "CO", "Peru": "PE", "Russia": "RU",
    "Czech Republic": "CZ", "Hungary": "HU", "Kuwait": "KW",
}


def split_yahoo(symbols: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Yahoo symbols -> (local symbol, ISO-2 country); unknown suffixes give NaN country.

    ``"7203.T" -> ("7203", "JP")``, ``"VOD.L" -> ("VOD", "GB")``, ``"BRK-B" -> ("BRK/B", "US")``.
    """
    text = symbols.astype(str).str.strip().str.upper()
    parts = text.str.rsplit(".", n=1, expand=True)
    if parts.shape[1] == 1:
        parts[1] = None
    has_suffix = parts[1].notna() & parts[1].isin(YAHOO_SUFFIX_TO_COUNTRY)
    local = parts[0].where(has_suffix, text)
    suffix = parts[1].where(has_suffix, "")
    country = suffix.map(YAHOO_SUFFIX_TO_COUNTRY)
    # share classes: Yahoo writes BRK-B, numerai/Bloomberg write BRK/B
    local = local.str.replace("-", "/", regex=False)
    return local, country


def canonical_from_yahoo(symbols: pd.Series) -> pd.Series:
    """Yahoo symbols -> canonical ``"<symbol> <ISO-2>"`` tickers (NaN where the suffix is unknown)."""
    local, country = split_yahoo(symbols)
    return (local + " " + country).where(country.notna())
