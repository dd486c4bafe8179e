"""The Outlook ``.msg`` writer: a Compound File ([MS-CFB]) holding [MS-OXMSG] properties."""
