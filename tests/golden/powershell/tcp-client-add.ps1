# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: pwsh e1_add_client.ps1
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

function Add-Message([string]$data) {
    # The sum of each "A,B" message, as the lecture's add server answers.
    $out = ''
    $parts = $data -split "`n"
    for ($i = 0; $i -lt $parts.Count; $i++) {
        $line = $parts[$i]
        $nl = if ($i -lt $parts.Count - 1) { "`n" } else { '' }
        if ($line -eq '' -and $nl -eq '') { continue }
        $ab = $line.Trim() -split ','
        $a = [System.Numerics.BigInteger]::Zero; $b = [System.Numerics.BigInteger]::Zero
        if ($ab.Count -eq 2 -and [System.Numerics.BigInteger]::TryParse($ab[0].Trim(), [ref]$a) -and [System.Numerics.BigInteger]::TryParse($ab[1].Trim(), [ref]$b)) {
            $out += ($a + $b).ToString() + $nl
        } else {
            $out += "error: send two integers like 50,40`n"
        }
    }
    return $out
}

$client = [System.Net.Sockets.TcpClient]::new($HostName, $Port)   # socket(), connect()
$stream = $client.GetStream()
Write-Host "connected from $($client.Client.LocalEndPoint)"   # the ephemeral port
$buffer = New-Object byte[] 1024
while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {   # recv()
    $data = $Utf8.GetString($buffer, 0, $n)
    Write-Host "received $data"
    $bytes = $Utf8.GetBytes((Add-Message $data))
    $stream.Write($bytes, 0, $bytes.Length)      # send()
}
$client.Close()                                  # close()
