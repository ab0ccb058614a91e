# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: it prints what arrives and never replies.
# Run it: pwsh e1_discard_client.ps1
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

$client = [System.Net.Sockets.TcpClient]::new($HostName, $Port)   # socket(), connect()
$stream = $client.GetStream()
Write-Host "connected from $($client.Client.LocalEndPoint)"   # the ephemeral port
$file = [System.IO.File]::Create((Join-Path $PWD 'received.bin'))
$stream.CopyTo($file)                            # recv() until the server closes
$file.Close()
Write-Host "saved received.bin SHA-256 $((Get-FileHash received.bin -Algorithm SHA256).Hash.ToLower())"
$client.Close()                                  # close()
