# The private key itself where its path belongs.
# expect: gpu-01.invalid: $.ssh_key: (value hidden) looks like key material, not the path of a file: put the key in a file (mode 0600) and give its path
hosts = [("gpu-01.invalid", {"ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"})]
